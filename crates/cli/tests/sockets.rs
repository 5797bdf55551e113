//! Blocking socket calls park the fiber: a TCP echo server and client, as
//! two beads whose strings share ONE worker thread, complete (if `accept`
//! or `read` blocked the worker, the client would never run).

mod common;

use common::*;

#[test]
fn echo_pair_on_one_worker() {
    let out = run_tapestry(
        "echo_one_worker",
        r#"
[tapestry]
name = "echo"
workers = 1

[[module]]
name = "echo"
path = "@MODS@/echo.so"

[[bead]]
name = "server"
module = "echo"

[[bead]]
name = "client"
module = "echo"

[[weave]]
name = "net0"
beads = ["server"]

[[weave]]
name = "net1"
beads = ["client"]

[[string]]
name = "srv"
weave = "net0"
entry = "echo_server"

[[string]]
name = "cli"
weave = "net1"
entry = "echo_client"
args = ["echo", "200"]

# The server publishes its port here; the client waits for it.
[[tuple_space]]
variables = ["echo_port"]
beads = ["server", "client"]
"#,
    );
    out.expect_success();
    // 200 messages "message 0" .. "message 199": 10*9 + 90*10 + 100*11 bytes.
    assert_eq!(
        out.sorted_lines(),
        [
            "echo client: 200 of 200 messages came back",
            "echo server: echoed 2090 bytes"
        ]
    );
}
