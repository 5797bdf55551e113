//! Renders a [`Trace`]: one band per node, stacked, sharing the time axis;
//! in each band a dot per fault at (time, page), blue for reads and red for
//! writes. Pages are drawn by rank in address order, so that the program's
//! data and each node's heap sit next to each other instead of terabytes
//! apart in the arena.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::trace::{Fault, Kind, Trace};

/// The picture formats `-o` can name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format an output path's extension asks for.
    pub(crate) fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

const WIDTH: u32 = 1200;
const BAND_HEIGHT: u32 = 170;
const TITLE_HEIGHT: u32 = 40;
const READ_COLOUR: RGBColor = RGBColor(31, 100, 200);
const WRITE_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// Draws `trace` into `out`.
pub(crate) fn draw(trace: &Trace, out: &Path, format: Format) -> Result<(), String> {
    // Text is laid out with an embedded font, so the picture does not
    // depend on the fonts a machine happens to have.
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded font could not be loaded".to_string())?;
    let size = (
        WIDTH,
        TITLE_HEIGHT + BAND_HEIGHT * trace.header.nodes.max(2),
    );
    let failed = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", out.display());
    match format {
        Format::Png => {
            let root = BitMapBackend::new(out, size).into_drawing_area();
            render(&root, trace).map_err(|e| failed(&e))?;
            root.present().map_err(|e| failed(&e))
        }
        Format::Svg => {
            let root = SVGBackend::new(out, size).into_drawing_area();
            render(&root, trace).map_err(|e| failed(&e))?;
            root.present().map_err(|e| failed(&e))
        }
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn render<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, trace: &Trace) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    let header = &trace.header;
    title.titled(
        &format!(
            "DSM access pattern: {} node(s), {} — {} faults on {} pages",
            header.nodes,
            header.coherence,
            trace.faults.len(),
            trace.distinct_pages()
        ),
        ("sans-serif", 20),
    )?;
    let rows = PageRows::new(&trace.faults);
    let t_max_ms = trace.faults.iter().map(|f| f.t_us).max().unwrap_or(0) as f64 / 1e3;
    let t_range = 0.0..(t_max_ms * 1.02).max(0.001);
    let bands = body.split_evenly((header.nodes as usize, 1));
    for (node, band) in bands.iter().enumerate() {
        let last = node + 1 == bands.len();
        let mut chart = ChartBuilder::on(band)
            .margin_left(10)
            .margin_right(20)
            .margin_top(4)
            .caption(format!("node {node}"), ("sans-serif", 14))
            .x_label_area_size(if last { 36 } else { 18 })
            .y_label_area_size(64)
            .build_cartesian_2d(t_range.clone(), 0u64..rows.count().max(1))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh().y_desc("page (rank)").y_labels(4);
        if last {
            mesh.x_desc("time (ms)");
        }
        mesh.draw()?;
        for (kind, colour, label) in [
            (Kind::Read, READ_COLOUR, "read fault"),
            (Kind::Write, WRITE_COLOUR, "write fault"),
        ] {
            let dots = trace
                .faults
                .iter()
                .filter(move |f| f.node as usize == node && f.kind == kind)
                .map(|f| Circle::new((f.t_us as f64 / 1e3, rows.row(f.page)), 2, colour.filled()));
            let series = chart.draw_series(dots)?;
            if node == 0 {
                series
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
            }
        }
        if node == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
    }
    Ok(())
}

/// The row each faulting page is drawn on: its rank among the distinct
/// pages of the trace, in address order.
struct PageRows {
    rank: BTreeMap<u64, u64>,
}

impl PageRows {
    fn new(faults: &[Fault]) -> PageRows {
        let mut rank: BTreeMap<u64, u64> = faults.iter().map(|f| (f.page, 0)).collect();
        for (row, slot) in rank.values_mut().enumerate() {
            *slot = row as u64;
        }
        PageRows { rank }
    }

    fn count(&self) -> u64 {
        self.rank.len() as u64
    }

    fn row(&self, page: u64) -> u64 {
        self.rank[&page]
    }
}
