//! What the runtime says about itself on stderr: `tracing` events from
//! every weaves crate, one line each, prefixed `weaves:` like the CLI's own
//! errors.
//!
//! | given | shown |
//! |---|---|
//! | nothing | the runtime's notes and warnings (`weaves=info`, other crates' warnings) |
//! | `-q` | errors only |
//! | `-v` | also build phases, bindings chosen, checkpoint phases, live-change steps (`weaves=debug`) |
//! | `-vv` | also every import of every bead (`weaves=trace`) |
//! | `RUST_LOG=…` | exactly what it says (`RUST_LOG=weaves=debug`); it wins over `-v`/`-q` |
//!
//! Events inside a span carry the span's name and fields at debug level
//! and below, so `weaves -v run t.toml` reads as
//! `weaves: debug: build{tapestry=counters}: bind: ...`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The filter `-v`/`-q` stand for, unless `RUST_LOG` says otherwise.
fn directives(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,weaves=info",
        (false, 1) => "warn,weaves=debug",
        (false, _) => "warn,weaves=trace",
    }
}

/// Installs the stderr subscriber for this process.
pub(crate) fn init(verbose: u8, quiet: bool) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match from_env {
        Some(v) => EnvFilter::builder().parse_lossy(v),
        None => EnvFilter::new(directives(verbose, quiet)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(OneLine)
        .try_init();
}

/// `weaves: [level: ][spans: ]message key=value…`.
struct OneLine;

impl<S, N> FormatEvent<S, N> for OneLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        write!(writer, "weaves: ")?;
        match level {
            Level::ERROR => write!(writer, "error: ")?,
            Level::WARN => write!(writer, "warning: ")?,
            Level::INFO => {}
            Level::DEBUG => write!(writer, "debug: ")?,
            Level::TRACE => write!(writer, "trace: ")?,
        }
        if level >= Level::DEBUG {
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    write!(writer, "{}", span.name())?;
                    let ext = span.extensions();
                    if let Some(fields) = ext.get::<tracing_subscriber::fmt::FormattedFields<N>>() {
                        if !fields.is_empty() {
                            write!(writer, "{{{fields}}}")?;
                        }
                    }
                    write!(writer, ": ")?;
                }
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn quiet_wins_over_verbose_and_verbosity_steps_up() {
        assert_eq!(directives(3, true), "error");
        assert_eq!(directives(0, false), "warn,weaves=info");
        assert_eq!(directives(1, false), "warn,weaves=debug");
        assert_eq!(directives(2, false), "warn,weaves=trace");
    }
}
