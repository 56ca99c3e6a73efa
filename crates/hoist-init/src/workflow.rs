//! The GitHub Actions release workflow `hoist init --github-actions` writes.
//!
//! It is safe by construction: no `${{ … }}` expression ever reaches a `run:` script (hoist
//! reads the PR title from the event payload itself), actions are pinned by commit SHA,
//! `permissions` start from nothing, checkout keeps no credentials (hoist pushes the tag
//! with `HOIST_GIT_TOKEN`, passed through the environment), and the history is complete
//! (`fetch-depth: 0`) so the last release tag is found.

/// `actions/checkout` v4.2.2.
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
/// `aws-actions/configure-aws-credentials` v4.0.2.
const AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2";
/// `aws-actions/amazon-ecr-login` v2.0.1.
const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login@062b18b96a7aff071d4dc91bc00c4c1a7945b076 # v2.0.1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowOptions {
    /// The branch PRs merge into.
    pub branch: String,
    /// `[registry] repository`, when known: an ECR host gets the OIDC login steps.
    pub repository: Option<String>,
    /// How the job installs hoist.
    pub install: String,
}

impl Default for WorkflowOptions {
    fn default() -> Self {
        WorkflowOptions {
            branch: "main".into(),
            repository: None,
            install: "cargo install --locked --git https://github.com/hoist-dev/hoist hoist".into(),
        }
    }
}

/// The region of an ECR registry host (`<acct>.dkr.ecr.<region>.amazonaws.com`).
pub fn ecr_region(repository: &str) -> Option<String> {
    let host = repository.split('/').next()?;
    let rest = host.split_once(".dkr.ecr.")?.1;
    let region = rest.strip_suffix(".amazonaws.com").or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    (!region.is_empty() && region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then(|| region.to_string())
}

pub fn workflow(o: &WorkflowOptions) -> String {
    let ecr = o.repository.as_deref().and_then(ecr_region);
    let mut y = String::new();
    y.push_str("# Written by `hoist init --github-actions`.\n");
    y.push_str("# On every merged pull request: version from the PR title marker ([major], [minor], [patch]),\n");
    y.push_str("# build, images, push, then the release tag. hoist reads the PR title from the event payload\n");
    y.push_str("# itself, so no PR text is ever interpolated into a shell.\n");
    y.push_str("name: release\n\n");
    y.push_str("on:\n  pull_request:\n    types: [closed]\n");
    y.push_str(&format!("    branches: [{}]\n\n", yaml_str(&o.branch)));
    y.push_str("permissions: {}\n\n");
    y.push_str("concurrency:\n  group: hoist-release\n  cancel-in-progress: false\n\n");
    y.push_str("jobs:\n  release:\n");
    y.push_str("    if: github.event.pull_request.merged == true\n");
    y.push_str("    runs-on: ubuntu-latest\n    timeout-minutes: 60\n");
    y.push_str("    permissions:\n      contents: write # push the release tag\n");
    if ecr.is_some() {
        y.push_str("      id-token: write # OIDC for the ECR login\n");
    }
    y.push_str("    steps:\n");
    y.push_str(&format!("      - uses: {CHECKOUT}\n"));
    y.push_str("        with:\n");
    y.push_str("          ref: ${{ github.event.pull_request.merge_commit_sha }}\n");
    y.push_str("          fetch-depth: 0\n");
    y.push_str("          persist-credentials: false\n");
    if let Some(region) = &ecr {
        y.push_str(&format!(
            "      - name: AWS credentials (OIDC, no long-lived keys)\n        uses: {AWS_CREDENTIALS}\n"
        ));
        y.push_str("        with:\n          role-to-assume: ${{ secrets.AWS_ROLE_ARN }}\n");
        y.push_str(&format!("          aws-region: {region}\n"));
        y.push_str(&format!("      - name: Log in to Amazon ECR\n        uses: {ECR_LOGIN}\n"));
    }
    y.push_str("      - name: Install hoist\n");
    y.push_str(&format!("        run: {}\n", o.install));
    y.push_str("      - name: Release\n");
    y.push_str("        env:\n");
    y.push_str("          HOIST_GIT_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n");
    if ecr.is_none() {
        y.push_str("          HOIST_REGISTRY_USERNAME: ${{ secrets.REGISTRY_USERNAME }}\n");
        y.push_str("          HOIST_REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}\n");
    }
    y.push_str("        run: hoist release --deploy none --allow-detached\n");
    y
}

fn yaml_str(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) && !s.is_empty() {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_regions() {
        assert_eq!(ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop").as_deref(), Some("eu-west-1"));
        assert_eq!(ecr_region("127.0.0.1:5000/shop"), None);
        assert_eq!(ecr_region("ghcr.io/acme/shop"), None);
    }
}
