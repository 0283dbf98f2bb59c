//! Shared by every benchmark that reports to `docs/benchmarks.md`: each owns one section between
//! `<!-- name:begin -->` and `<!-- name:end -->`, rewritten in place, and states the machine, the
//! commit and the build it was measured on, so no figure is read without its conditions.

use std::path::{Path, PathBuf};

const REPORT_INTRO: &str = "# Benchmarks

Figures measured on the project's machines. Each section below is written by one benchmark,
between its own markers, with the machine it ran on and the baseline it was compared with in the
same run. Rerun a benchmark to refresh its section; leave the markers in place.
";

/// The machine a benchmark ran on.
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".to_string());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu_model,
            cores,
            memory_gib: memory_kib / (1024.0 * 1024.0),
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{}, {} cores, {:.1} GiB memory",
            self.cpu_model, self.cores, self.memory_gib
        )
    }
}

/// The 1, 5 and 15 minute load averages: other work on a shared machine skews figures.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let averages: Vec<&str> = text.split_whitespace().take(3).collect();
    if averages.len() < 3 {
        return "unknown".to_string();
    }
    averages.join(" / ")
}

/// The workspace root (this crate lives one level below it).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a workspace member")
        .to_path_buf()
}

pub fn report_path() -> PathBuf {
    repository_root().join("docs/benchmarks.md")
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(repository_root())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The commit measured, marked when the working tree differs from it (the report aside), so a
/// figure is never attributed to code it was not measured on.
pub fn measured_commit() -> String {
    let Some(commit) = command_output("git", &["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_string();
    };
    let changes = command_output(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":(exclude)docs/benchmarks.md",
        ],
    );
    match changes {
        Some(changes) if changes.is_empty() => format!("`{commit}`"),
        _ => format!("`{commit}` with uncommitted changes"),
    }
}

pub fn build_profile() -> String {
    let profile = if cfg!(debug_assertions) {
        "debug (figures not comparable)"
    } else {
        "release (cargo bench profile)"
    };
    let rustc = command_output("rustc", &["--version"]).unwrap_or_else(|| "rustc unknown".into());
    format!("{profile}, {rustc}")
}

/// Now, in RFC 3339 to the second.
pub fn utc_now() -> String {
    let now = logplane_model::Timestamp::now().to_rfc3339();
    format!("{}Z", now.get(..19).unwrap_or(&now))
}

/// The table every section starts with: when, what, where, how built, plus `extra` rows.
/// `load_before` is [`load_average`] read before the benchmark added load of its own.
pub fn conditions_table(load_before: &str, extra: &[(&str, String)]) -> String {
    let mut rows = vec![
        ("date".to_string(), utc_now()),
        ("commit".to_string(), measured_commit()),
        ("machine".to_string(), Machine::describe().summary()),
        (
            "load average before the run".to_string(),
            format!("{load_before} (1, 5, 15 min; other work on the machine shares its cores)"),
        ),
        ("build".to_string(), build_profile()),
    ];
    rows.extend(
        extra
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    let mut table = String::from("| | |\n|---|---|\n");
    for (name, value) in rows {
        table.push_str(&format!("| {name} | {value} |\n"));
    }
    table
}

/// Replaces the section `name` of `docs/benchmarks.md` with `body`, or appends it.
pub fn write_section(name: &str, body: &str) -> std::io::Result<()> {
    let path = report_path();
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => REPORT_INTRO.to_string(),
        Err(error) => return Err(error),
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(&path, replace_section(&existing, name, body))
}

fn replace_section(document: &str, name: &str, body: &str) -> String {
    let (begin_marker, end_marker) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{begin_marker}\n{}\n{end_marker}", body.trim_end());
    match (document.find(&begin_marker), document.find(&end_marker)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{section}{}",
                &document[..begin],
                &document[end + end_marker.len()..]
            )
        }
        _ => format!("{}\n\n{section}\n", document.trim_end()),
    }
}

/// Where criterion keeps its measurements: `<target>/criterion`, found from the running bench
/// executable (`<target>/<profile>/deps/<bench>`), so it is the same wherever the target is.
pub fn criterion_directory() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .map(|target| target.join("criterion"))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The mean time of one iteration, in nanoseconds, of the criterion benchmark `group/function`
/// just measured.
pub fn criterion_mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = criterion_directory()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_others_are_kept() {
        let document = "# B\n\n<!-- a:begin -->\nold a\n<!-- a:end -->\n\n<!-- b:begin -->\nb\n<!-- b:end -->\n";
        let updated = replace_section(document, "a", "new a");
        assert_eq!(
            updated,
            "# B\n\n<!-- a:begin -->\nnew a\n<!-- a:end -->\n\n<!-- b:begin -->\nb\n<!-- b:end -->\n"
        );
        let appended = replace_section(&updated, "c", "c");
        assert!(appended.ends_with("<!-- c:begin -->\nc\n<!-- c:end -->\n"));
        assert!(appended.contains("new a"));
    }
}
