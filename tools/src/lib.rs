//! What the example tools of every adapter share: command lines, output
//! formats and exit codes, and the example worker functions. The binaries
//! are named `ADAPTER-TOOL` (`tokio-client`, `blocking-worker`, ...), and an
//! adapter's tools differ only in how they wait.

pub mod async_std_functions;
pub mod blocking_functions;
pub mod cli;
pub mod ctrl_c;
pub mod gearadmin;
pub mod job_command;
pub mod report;
pub mod tls;
pub mod tokio_functions;
