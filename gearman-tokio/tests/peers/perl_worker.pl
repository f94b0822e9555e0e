#!/usr/bin/perl
# Perl's Gearman::Worker against a job server, until killed.
# Usage: perl_worker.pl HOST PORT FUNCTION LOGFILE
#   FUNCTION:      sends WORK_DATA "got <payload>", completes with the
#                  payload reversed;
#   FUNCTION_log:  appends "<payload>\n" to LOGFILE, completes with "logged".
use strict;
use warnings;
use Gearman::Worker;

my ($host, $port, $function, $logfile) = @ARGV;
die "usage: $0 HOST PORT FUNCTION LOGFILE\n" unless defined $logfile;

my $worker = Gearman::Worker->new(job_servers => ["$host:$port"]);
$worker->register_function(
    $function => sub {
        my $job = shift;
        $worker->send_work_data($job, "got " . $job->arg);
        return scalar reverse $job->arg;
    }
);
$worker->register_function(
    "${function}_log" => sub {
        my $job = shift;
        open(my $log, '>>', $logfile) or die "open $logfile: $!";
        print $log $job->arg, "\n";
        close($log) or die "close $logfile: $!";
        return "logged";
    }
);
$worker->work while 1;
