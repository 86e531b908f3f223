//! The SVG plot of a report: for each workload, ringmq's result relative to libzmq's
//! (msgs/s for throughput rows; p50 and p99 round-trip time for latency rows), one bar per ringmq
//! backend and API.

use plotters::prelude::*;

use crate::report::Report;

/// (label, ratio, higher_is_better)
fn ratios(report: &Report) -> Vec<(String, f64, bool)> {
    let mut out = Vec::new();
    let pairs = report.groups().into_iter().flat_map(|group| {
        let libzmq = group.iter().find(|r| r.implementation == "libzmq");
        report
            .ringmq_variants(group)
            .into_iter()
            .filter_map(move |(r, variant)| libzmq.map(|z| (r, z, variant)))
    });
    for (r, z, variant) in pairs {
        let workload = if variant.is_empty() {
            r.workload.clone()
        } else {
            format!("{} {variant}", r.workload)
        };
        match (r.rtt_us_p50, z.rtt_us_p50, r.rtt_us_p99, z.rtt_us_p99) {
            (Some(a50), Some(b50), Some(a99), Some(b99)) if b50 > 0.0 && b99 > 0.0 => {
                out.push((format!("{workload} RTT p50"), a50 / b50, false));
                out.push((format!("{workload} RTT p99"), a99 / b99, false));
            }
            _ if z.msgs_per_sec > 0.0 => {
                out.push((
                    format!("{workload} msgs/s"),
                    r.msgs_per_sec / z.msgs_per_sec,
                    true,
                ));
            }
            _ => {}
        }
    }
    out
}

/// Write the ratio chart to `path`. Does nothing when the report has no libzmq rows.
pub fn write_svg(
    report: &Report,
    path: &std::path::Path,
) -> Result<bool, Box<dyn std::error::Error>> {
    let bars = ratios(report);
    if bars.is_empty() {
        return Ok(false);
    }
    let max = bars.iter().map(|b| b.1).fold(1.0f64, f64::max) * 1.15;
    let height = 80 + 40 * bars.len() as u32;
    // About 5 pixels per character of the default label font, so long names are not clipped.
    let label_width = bars
        .iter()
        .map(|b| 5 * b.0.len() as u32 + 16)
        .max()
        .unwrap_or(0)
        .max(200);
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ringmq / libzmq (throughput: higher is better; RTT: lower is better)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0f64..max, 0usize..bars.len())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|i| bars.get(*i).map(|b| b.0.clone()).unwrap_or_default())
        .x_desc("ratio")
        .draw()?;
    for (i, (_, ratio, higher_is_better)) in bars.iter().enumerate() {
        let good = if *higher_is_better {
            *ratio >= 1.0
        } else {
            *ratio <= 1.0
        };
        let color = if good {
            RGBColor(46, 125, 50)
        } else {
            RGBColor(198, 40, 40)
        };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, i), (*ratio, i + 1)],
            color.mix(0.8).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{ratio:.2}x"),
            (*ratio + max * 0.01, i),
            ("sans-serif", 14),
        )))?;
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, 0), (1.0, bars.len())],
        BLACK.stroke_width(2),
    )))?;
    root.present()?;
    Ok(true)
}
