//! Inside GitHub Actions: the release's outputs in `$GITHUB_OUTPUT` (tag, version, images)
//! and a summary table in `$GITHUB_STEP_SUMMARY`; the PR check's verdict in the summary.
//! Outside (the variables unset), nothing.

use std::io::Write;
use std::path::Path;

use hoist_diag::Report;

use hoist_release::{ReleaseReport, ServiceSummary};

/// Append the outputs of a release (or of "no release") to the files GitHub names.
pub fn write_outputs(report: Option<&ReleaseReport>, services: &[ServiceSummary]) -> Result<(), Report> {
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT") {
        append(Path::new(&path), &outputs(report, services))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append(Path::new(&path), &summary(report, services))?;
    }
    Ok(())
}

fn outputs(report: Option<&ReleaseReport>, services: &[ServiceSummary]) -> String {
    let Some(r) = report else { return "release=false\n".into() };
    let images: Vec<String> = services.iter().map(|s| format!("{}@{}", s.image, s.digest)).collect();
    let json = serde_json::to_string(&images).expect("strings serialise");
    // A multi-line-safe value: the delimiter cannot occur in a JSON string list on one line.
    let delimiter = format!("hoist_{}", std::process::id());
    let built: Vec<&str> = services
        .iter()
        .filter(|s| s.action == hoist_release::ServiceAction::Built)
        .map(|s| s.service.as_str())
        .collect();
    let built = serde_json::to_string(&built).expect("strings serialise");
    format!(
        "release=true\ntag={}\nversion={}\nimages<<{delimiter}\n{json}\n{delimiter}\nbuilt={built}\n",
        r.tag, r.version
    )
}

fn summary(report: Option<&ReleaseReport>, services: &[ServiceSummary]) -> String {
    let Some(r) = report else { return "### hoist: no release\n\nThe PR title has no release marker.\n".into() };
    let mut s = format!(
        "### hoist released `{}`\n\n| service | | image | digest | uploaded |\n|---|---|---|---|---:|\n",
        r.tag
    );
    for svc in services {
        let action = match &svc.from {
            Some(from) => format!("carried from `{from}`"),
            None => "built".to_string(),
        };
        s.push_str(&format!(
            "| {} | {action} | `{}` | `{}` | {} |\n",
            svc.service, svc.image, svc.digest, svc.bytes_uploaded
        ));
    }
    s.push_str(&format!(
        "\nUploaded {} bytes in {:.1} s; tag pushed: {}.\n",
        r.bytes_uploaded, r.seconds, r.tag_pushed
    ));
    s
}

/// What `hoist version --check` found, for the pull request's job summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The merge makes this release.
    Release { version: String, current: Option<String>, why: String, tag_format: String },
    /// The title has no marker and `default_bump = "none"`.
    Nothing { words: String },
    /// HEAD already carries a release tag.
    Released { tag: String },
    /// The title's marker is wrong; `reason` is hoist's error, hint included.
    Refused { reason: String },
}

impl Verdict {
    /// The summary's Markdown. PR text only ever appears inside an indented code block
    /// (hoist's error quotes the bad marker), where Markdown and HTML are inert.
    pub fn markdown(&self) -> String {
        match self {
            Verdict::Release { version, current, why, tag_format } => {
                let from = match current {
                    Some(c) => format!("{c} → {version}"),
                    None => format!("{version}, the first release"),
                };
                format!(
                    "### hoist: merging this PR releases {version}\n\n{why}: {from}. The tag follows `{}`, with the merge commit's hash.\n",
                    tag_format.replace('`', "")
                )
            }
            Verdict::Nothing { words } => format!(
                "### hoist: merging this PR releases nothing\n\nThe title has no release marker and `default_bump = \"none\"`. To release on merge, put {words} in the title.\n"
            ),
            Verdict::Released { tag } => format!("### hoist: already released\n\nHEAD is released as `{tag}`.\n"),
            Verdict::Refused { reason } => {
                let mut s = String::from("### hoist: the PR title's release marker is wrong\n\n");
                for line in reason.lines() {
                    let clean: String = line.chars().filter(|c| !c.is_control()).collect();
                    s.push_str(&format!("    {clean}\n"));
                }
                s
            }
        }
    }
}

/// Append Markdown to `$GITHUB_STEP_SUMMARY`, when it is set.
pub fn write_summary(markdown: &str) -> Result<(), Report> {
    match std::env::var_os("GITHUB_STEP_SUMMARY") {
        Some(path) => append(Path::new(&path), markdown),
        None => Ok(()),
    }
}

fn append(path: &Path, text: &str) -> Result<(), Report> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Report::unexpected(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes()).map_err(|e| Report::unexpected(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_in_markdown() {
        let release = Verdict::Release {
            version: "1.3.0".into(),
            current: Some("1.2.0".into()),
            why: "`[minor]` in the title".into(),
            tag_format: "v{version}-{sha}".into(),
        };
        assert_eq!(
            release.markdown(),
            "### hoist: merging this PR releases 1.3.0\n\n`[minor]` in the title: 1.2.0 → 1.3.0. The tag follows `v{version}-{sha}`, with the merge commit's hash.\n"
        );
        let nothing = Verdict::Nothing { words: "one of [major], [minor], [patch]".into() }.markdown();
        assert!(nothing.contains("releases nothing") && nothing.contains("default_bump = \"none\""), "{nothing}");
        // Hostile text stays inside the code block, line by line.
        let refused = Verdict::Refused { reason: "error: `[<img src=x>]`\n# heading\u{1b}[31m".into() }.markdown();
        assert_eq!(
            refused,
            "### hoist: the PR title's release marker is wrong\n\n    error: `[<img src=x>]`\n    # heading[31m\n"
        );
    }

    #[test]
    fn outputs_without_release() {
        assert_eq!(outputs(None, &[]), "release=false\n");
    }

    #[test]
    fn outputs_with_release() {
        let r = ReleaseReport {
            tag: "v1.1.0-abc1234".into(),
            version: "1.1.0".into(),
            resumed: false,
            services: vec![],
            bytes_uploaded: 10,
            tag_pushed: true,
            deploy: None,
            seconds: 1.0,
            record: "/p/.hoist/releases/v1.1.0-abc1234.json".into(),
        };
        let built = ServiceSummary {
            service: "api".into(),
            action: hoist_release::ServiceAction::Built,
            from: None,
            image: "r/shop:api_v1.1.0-abc1234".into(),
            digest: "sha256:00".into(),
            bytes_uploaded: 10,
            seconds: 1.0,
            build_seconds: 0.5,
            image_seconds: 0.5,
        };
        let carried = ServiceSummary {
            service: "web".into(),
            action: hoist_release::ServiceAction::Carried,
            from: Some("v1.0.0-0000000".into()),
            image: "r/shop:web_v1.1.0-abc1234".into(),
            digest: "sha256:01".into(),
            bytes_uploaded: 0,
            seconds: 0.0,
            build_seconds: 0.0,
            image_seconds: 0.0,
        };
        let s = vec![built, carried];
        let out = outputs(Some(&r), &s);
        assert!(out.starts_with("release=true\ntag=v1.1.0-abc1234\nversion=1.1.0\nimages<<hoist_"), "{out}");
        assert!(
            out.contains("[\"r/shop:api_v1.1.0-abc1234@sha256:00\",\"r/shop:web_v1.1.0-abc1234@sha256:01\"]"),
            "{out}"
        );
        assert!(out.ends_with("\nbuilt=[\"api\"]\n"), "{out}");
        let table = summary(Some(&r), &s);
        assert!(table.contains("| api | built | `r/shop:api_v1.1.0-abc1234` | `sha256:00` | 10 |"), "{table}");
        assert!(
            table.contains("| web | carried from `v1.0.0-0000000` | `r/shop:web_v1.1.0-abc1234` | `sha256:01` | 0 |"),
            "{table}"
        );
    }
}
