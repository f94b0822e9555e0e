#!/usr/bin/perl
# Perl's Gearman::Client against a job server.
# Usage: perl_client.pl HOST PORT fg|bg FUNCTION PAYLOAD
#   fg: prints "DATA <chunk>" per WORK_DATA, then "RESULT <result>"
#       (exit 1 and "FAIL" when the job fails);
#   bg: prints "HANDLE <handle>".
use strict;
use warnings;
use Gearman::Client;

my ($host, $port, $mode, $function, $payload) = @ARGV;
die "usage: $0 HOST PORT fg|bg FUNCTION PAYLOAD\n" unless defined $payload;
$| = 1;

my $client = Gearman::Client->new(job_servers => ["$host:$port"]);
if ($mode eq 'fg') {
    my $result = $client->do_task(
        $function, $payload,
        {
            on_data => sub { print "DATA ${$_[0]}\n" },
            timeout => 30,
        }
    );
    if (!defined $result) {
        print "FAIL\n";
        exit 1;
    }
    print "RESULT $$result\n";
} elsif ($mode eq 'bg') {
    my $handle = $client->dispatch_background($function, $payload);
    if (!defined $handle) {
        print "FAIL\n";
        exit 1;
    }
    print "HANDLE $handle\n";
} else {
    die "unknown mode $mode\n";
}
