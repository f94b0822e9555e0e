//! The client keeps a job's workload only while the server may still need
//! it sent again: until JOB_CREATED (the whole request goes then).

use std::time::Instant;

use bytes::Bytes;
use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest};
use gearman_proto::{Command, ConnAction, Endpoint, Packet};

fn created_wire(handle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::build(Command::JobCreated, &[handle])
        .expect("test packet is well formed")
        .encode(&mut out);
    out
}

#[test]
fn payload_is_released_once_the_server_acknowledges_the_job() {
    let now = Instant::now();
    // Without the exceptions option, JOB_CREATED is the first reply.
    let config = ClientConfig::new(["a:4730"])
        .with_seed(1)
        .with_exceptions(false);
    let mut client = Client::new(config).expect("valid");
    let payload = Bytes::from(vec![7u8; 1000]);
    let job = client
        .submit(JobRequest::new("work", payload.clone()), now)
        .expect("valid request");
    let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
        panic!("the submit must open a connection");
    };
    client.handle_connected(conn, now);
    while client.poll_transmit().is_some() {}
    // Sent but not acknowledged: it may have to be sent again elsewhere.
    assert!(
        !payload.is_unique(),
        "the client must keep the payload until JOB_CREATED"
    );

    client.handle_input(conn, &created_wire(b"H:a:1"), now);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Created { job: created, .. }) if created == job
    ));
    assert!(
        client.is_active(job),
        "a foreground job goes on after JOB_CREATED"
    );
    assert!(
        payload.is_unique(),
        "the client still holds the payload of an acknowledged job"
    );
}

#[test]
fn payload_of_a_background_job_is_released_when_it_is_queued() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::new(["a:4730"]).with_seed(1)).expect("valid");
    let payload = Bytes::from(vec![9u8; 1000]);
    let job = client
        .submit(
            JobRequest::new("work", payload.clone()).in_background(),
            now,
        )
        .expect("valid request");
    let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
        panic!("the submit must open a connection");
    };
    client.handle_connected(conn, now);
    while client.poll_transmit().is_some() {}
    assert!(!payload.is_unique());
    client.handle_input(conn, &created_wire(b"H:a:2"), now);
    assert!(
        !client.is_active(job),
        "a background job ends at JOB_CREATED"
    );
    assert!(payload.is_unique());
}
