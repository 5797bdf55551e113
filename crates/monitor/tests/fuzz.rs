//! Fuzz targets: the monitor protocol on the server side. Request decoding
//! ([`decode_request`]) over damaged request lines, and a served socket
//! answering a stream of them: every non-blank line gets exactly one JSON
//! response, whatever its bytes, and the server goes on serving.
//!
//! `WEAVES_FUZZ_ITERS=1000000 cargo test --release -p weaves-monitor
//! --test fuzz -- --nocapture` runs a long search.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use weaves_fuzz::{interesting, Fuzzer, Rng};
use weaves_monitor::protocol::{Request, Response};
use weaves_monitor::{decode_request, Handler, Server};

/// Every request the protocol has, and one it does not.
fn corpus() -> Vec<Vec<u8>> {
    let requests = [
        Request::Summary,
        Request::Inspect,
        Request::Apply {
            path: "/home/me/late.toml".into(),
            text: "[[module]]\nname = \"late\"\npath = \"late.so\"\n".into(),
        },
        Request::Remove {
            kind: "bead".into(),
            name: "late0".into(),
        },
        Request::Script {
            path: "/home/me/swap.txt".into(),
            text: "atomic {\n  stop s\n}\n".into(),
        },
        Request::Checkpoint {
            path: None,
            dir: Some("/home/me/images".into()),
            strict: true,
            full: false,
        },
        Request::Rollback {
            path: "/home/me/images".into(),
        },
    ];
    let mut c: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| serde_json::to_vec(r).expect("encode"))
        .collect();
    c.push(br#"{"op":"frobnicate","x":[1,2,{"y":null}]}"#.to_vec());
    c
}

const OPS: &[&str] = &[
    "summary",
    "inspect",
    "apply",
    "remove",
    "script",
    "checkpoint",
    "rollback",
    "Summary",
    "",
    "\u{0}",
];

/// A JSON node changed: `op` swapped for another, a value replaced by one
/// of another type or a boundary number, a key added or dropped, nesting
/// made deep.
fn mutate_json(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(map) if rng.chance(3, 4) && !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            match rng.below(5) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let extra = rng.pick(&[
                        "op", "path", "text", "strict", "full", "dir", "kind", "name", "zzz",
                    ]);
                    map.insert((*extra).into(), json!(interesting(rng)));
                }
                2 if key == "op" => {
                    map.insert(key, json!(rng.pick(OPS)));
                }
                _ => {
                    if let Some(x) = map.get_mut(&key) {
                        mutate_json(rng, x);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && rng.chance(1, 2) => {
            let i = rng.index(items.len());
            mutate_json(rng, &mut items[i]);
        }
        _ => {
            *v = match rng.below(8) {
                0 => json!(interesting(rng)),
                1 => json!((interesting(rng) as i64).wrapping_neg()),
                2 => json!(1.5e308),
                3 => Value::Null,
                4 => json!(true),
                5 => json!("x".repeat(rng.index(300))),
                6 => {
                    // Nesting past serde_json's recursion limit.
                    let n = 100 + rng.index(200);
                    serde_json::from_str(&format!("{}{}", "[".repeat(n), "]".repeat(n)))
                        .unwrap_or(Value::Null)
                }
                _ => json!({ "op": rng.pick(OPS) }),
            }
        }
    }
}

fn mutate_request(rng: &mut Rng, data: &mut Vec<u8>) {
    match serde_json::from_slice::<Value>(data) {
        Ok(mut v) => {
            mutate_json(rng, &mut v);
            *data = serde_json::to_vec(&v).unwrap_or_default();
        }
        Err(_) => {
            // Past the recursion limit, or not JSON: wrap it in more.
            if rng.chance(1, 2) {
                let n = 1 + rng.index(200);
                let mut wrapped = "[".repeat(n).into_bytes();
                wrapped.append(data);
                wrapped.extend("]".repeat(n).into_bytes());
                *data = wrapped;
            }
        }
    }
}

fn fuzzer(name: &'static str) -> Fuzzer {
    Fuzzer::new(name, corpus())
        .dictionary(&[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"\"op\"",
            b"\"apply\"",
            b"null",
            b"true",
            b"1e999",
            b"-0",
            b"\\u0000",
            b"\\ud800",
            b"\xff",
            b"\xc3\x28",
            b"\n",
            b"\r",
        ])
        .mutator(mutate_request)
}

#[test]
fn fuzz_monitor_request_decoding() {
    let report = fuzzer("monitor-request").iterations(20_000).run(|input| {
        let request = decode_request(input)?;
        // What decodes re-encodes to the same request.
        let again = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        assert_eq!(decode_request(&again).as_ref(), Ok(&request));
        Ok(())
    });
    report.expect_depth(100, 30);
}

/// Answers every request with its own debug form.
struct Echo;
impl Handler for Echo {
    fn handle(&self, request: Request) -> Response {
        Response::ok(json!(format!("{request:?}")))
    }
}

/// The server of this test binary (one: the socket directory comes from
/// the environment, set once before it starts).
fn served() -> &'static Server {
    static SERVER: std::sync::OnceLock<Server> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("monitor-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("WEAVES_RUNTIME_DIR", &dir);
        Server::start(Arc::new(Echo)).expect("serve")
    })
}

/// A connection to [`served`]: its reader and writer.
fn connect() -> (BufReader<UnixStream>, UnixStream) {
    let stream = UnixStream::connect(served().path()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let writer = stream.try_clone().unwrap();
    (BufReader::new(stream), writer)
}

/// Sends `line` (a newline is added) and reads one answer line ("" if the
/// connection closed instead).
fn ask(reader: &mut BufReader<UnixStream>, writer: &mut UnixStream, line: &[u8]) -> String {
    writer.write_all(line).expect("the server reads");
    writer.write_all(b"\n").expect("the server reads");
    let mut answer = String::new();
    reader.read_line(&mut answer).expect("an answer within 5 s");
    answer
}

#[test]
fn fuzz_monitor_socket_answers_every_line() {
    let (mut reader, mut writer) = connect();
    let report = fuzzer("monitor-socket").iterations(3_000).run(|input| {
        // One request per line: newlines inside become spaces.
        let line: Vec<u8> = input
            .iter()
            .map(|&b| if b == b'\n' { b' ' } else { b })
            .collect();
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let answer = ask(&mut reader, &mut writer, &line);
        assert!(
            !answer.is_empty(),
            "the server closed the connection on {:?}",
            String::from_utf8_lossy(input)
        );
        let response: Response = serde_json::from_str(&answer).expect("the answer is a Response");
        match response.error {
            Some(e) if !response.ok => Err(e),
            _ => Ok(()),
        }
    });
    report.expect_depth(50, 20);
}

/// Found by the socket target: a request line that was not UTF-8 made the
/// server close the connection without a word (its line reader failed),
/// and the client saw "the tapestry closed the connection". It gets an
/// error answer now, and the connection serves on.
#[test]
fn request_line_that_is_not_utf8_gets_an_error_answer_not_a_closed_connection() {
    let (mut reader, mut writer) = connect();
    let answer = ask(
        &mut reader,
        &mut writer,
        b"{\"op\":\"summary\",\"x\":\"\xff\"}",
    );
    let response: Response = serde_json::from_str(&answer).expect("an answer");
    assert!(!response.ok);
    assert!(response.error.unwrap().contains("not UTF-8"));
    let again: Response =
        serde_json::from_str(&ask(&mut reader, &mut writer, br#"{"op":"summary"}"#)).unwrap();
    assert!(again.ok, "the connection still serves");
}

/// A line longer than the 1 MiB limit gets one error answer, then the
/// connection closes (it used to be answered in 1 MiB pieces, each a
/// "bad request").
#[test]
fn request_line_over_the_limit_gets_one_answer_and_the_connection_closes() {
    let (mut reader, mut writer) = connect();
    let huge = vec![b' '; (1 << 20) + 10];
    let mut big = b"{\"op\":\"summary\",\"pad\":\"".to_vec();
    big.extend_from_slice(&huge);
    // The server may close while this is still being written.
    let _ = writer.write_all(&big);
    let _ = writer.write_all(b"\"}\n");
    let mut answer = String::new();
    reader.read_line(&mut answer).expect("an answer");
    let response: Response = serde_json::from_str(&answer).expect("an answer");
    assert!(response.error.unwrap().contains("longer than"));
    let mut rest = String::new();
    assert_eq!(
        reader.read_line(&mut rest).unwrap_or(0),
        0,
        "then it closes: {rest}"
    );
}
