//! Inside GitHub Actions: the release's outputs in `$GITHUB_OUTPUT` (tag, version, images)
//! and a summary table in `$GITHUB_STEP_SUMMARY`. Outside (the variables unset), nothing.

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
