//! The GitHub Actions workflows `hoist init --github-actions` writes: `release.yml` (a
//! merged PR is versioned, built, pushed, tagged, then deployed) and `pr-title.yml` (each
//! PR's title marker is checked and the release it makes is shown before the merge).
//!
//! They are safe by construction: no `${{ … }}` expression ever reaches a `run:` script
//! (values travel through `env:`; hoist reads the PR title from the event payload itself),
//! actions are pinned by commit SHA, `permissions` start from nothing and each job gets
//! only what it uses (`id-token: write` only where an OIDC login runs), checkout keeps no
//! credentials, and the history is complete (`fetch-depth: 0`) so the last release tag is
//! found. Deploy credentials (an SSH key, a kubeconfig) live only in the deploy job, which
//! has no write access to the repository, and are written to files no other user can read.
//! hoist is installed pinned (a version or a full commit SHA, `--locked`); only the
//! pull-request job, which holds nothing worth stealing, takes it from the cache.

/// `actions/checkout` v4.2.2.
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
/// `actions/cache` v4.2.3.
const CACHE: &str = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3";
/// `aws-actions/configure-aws-credentials` v4.0.2.
const AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2";
/// `aws-actions/amazon-ecr-login` v2.0.1.
const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login@062b18b96a7aff071d4dc91bc00c4c1a7945b076 # v2.0.1";
/// `google-github-actions/auth` v2.1.7.
const GCP_AUTH: &str = "google-github-actions/auth@6fc4af4b145ae7821d527454aa9bd537d1f2dc5f # v2.1.7";
/// `google-github-actions/get-gke-credentials` v2.2.1.
const GKE_CREDENTIALS: &str =
    "google-github-actions/get-gke-credentials@6051de21ad50fbb1767bc93c11357a49082ad116 # v2.2.1";

/// Where each workflow goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/release.yml";
pub const PR_WORKFLOW_PATH: &str = ".github/workflows/pr-title.yml";

/// How the jobs install hoist: always pinned, so a run is repeatable and the cache key is
/// exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `cargo install --locked --version V hoist` (crates.io).
    Version(String),
    /// `cargo install --locked --git URL --rev SHA hoist`.
    Rev { git: String, rev: String },
}

impl Install {
    /// A version pin; `version` must be a SemVer version (it lands in a shell line).
    pub fn version(version: &str) -> Result<Install, String> {
        semver::Version::parse(version)
            .map(|v| Install::Version(v.to_string()))
            .map_err(|e| format!("`{version}` is not a version ({e}); write e.g. 0.1.0"))
    }

    /// A commit pin: the full 40-hex SHA (a branch or tag can move) of an `https://` repository.
    pub fn rev(git: &str, rev: &str) -> Result<Install, String> {
        if rev.len() != 40 || !rev.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("`{rev}` is not a full commit SHA (40 hex digits); a branch or tag can move"));
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~/:".contains(c);
        if !git.starts_with("https://") || !git.chars().all(safe) {
            return Err(format!("`{git}` is not an https:// repository URL"));
        }
        Ok(Install::Rev { git: git.to_string(), rev: rev.to_ascii_lowercase() })
    }

    /// The part of the cache key that changes with the pin.
    fn key(&self) -> String {
        match self {
            Install::Version(v) => v.clone(),
            Install::Rev { rev, .. } => rev.clone(),
        }
    }

    fn command(&self) -> String {
        match self {
            Install::Version(v) => format!("cargo install --locked --version {v} hoist"),
            Install::Rev { git, rev } => format!("cargo install --locked --git {git} --rev {rev} hoist"),
        }
    }

    fn shown(&self) -> String {
        match self {
            Install::Version(v) => v.clone(),
            Install::Rev { rev, .. } => format!("at {}", &rev[..12]),
        }
    }
}

/// Where a release goes after it is pushed and tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deploy {
    /// Nothing to deploy to: release only.
    None,
    /// `[deploy.compose]` without `hosts`: the runner is no place to run the app, so the
    /// workflow releases only and says how to add a host.
    ComposeLocal,
    /// `[deploy.compose] hosts`: over SSH with a key and known_hosts from secrets.
    ComposeHosts {
        /// `[deploy.compose] known_hosts`: the keys are committed, no secret needed.
        known_hosts_file: Option<String>,
    },
    Kubernetes(KubeAuth),
}

/// How the deploy job reaches the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeAuth {
    /// A kubeconfig in the `KUBECONFIG` secret.
    Kubeconfig,
    /// Amazon EKS through OIDC: no long-lived keys.
    Eks,
    /// Google GKE through Workload Identity Federation: no long-lived keys.
    Gke,
}

/// What `hoist init --deploy` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Compose,
    Kubernetes,
    None,
}

/// Where the workflow deploys: what was asked (`--deploy`, `--cloud`), else what
/// hoist.toml configures; a choice hoist.toml cannot back is an error, not a guess.
pub fn choose_deploy(
    facts: &crate::ConfigFacts,
    want: Option<Target>,
    cloud: Option<KubeAuth>,
) -> Result<Deploy, crate::InitError> {
    let refuse = |message: &str, hint: &str| {
        Err(crate::InitError::Workflow { message: message.to_string(), hint: hint.to_string() })
    };
    let compose = |c: &crate::ComposeFacts| {
        if c.hosts.is_empty() {
            Deploy::ComposeLocal
        } else {
            Deploy::ComposeHosts { known_hosts_file: c.known_hosts.clone() }
        }
    };
    let want = match (want, cloud) {
        (Some(Target::Compose | Target::None), Some(_)) => {
            return refuse("--cloud is for a Kubernetes deploy", "drop --cloud, or pass --deploy k8s");
        }
        (_, Some(_)) => Some(Target::Kubernetes),
        (want, None) => want,
    };
    let kube = Deploy::Kubernetes(cloud.unwrap_or(KubeAuth::Kubeconfig));
    match (want, &facts.compose, facts.kubernetes) {
        (Some(Target::None), _, _) => Ok(Deploy::None),
        (Some(Target::Compose), Some(c), _) => Ok(compose(c)),
        (Some(Target::Compose), None, _) => refuse(
            "hoist.toml has no [deploy.compose] to deploy with",
            "add [deploy.compose] with hosts = [\"ssh://user@host\"] (docs/config.md), or choose another --deploy",
        ),
        (Some(Target::Kubernetes), _, true) => Ok(kube),
        (Some(Target::Kubernetes), _, false) => refuse(
            "hoist.toml has no [deploy.kubernetes] to deploy with",
            "add [deploy.kubernetes] with its manifests (docs/kubernetes.md), or choose another --deploy",
        ),
        (None, Some(c), true) if !c.hosts.is_empty() => refuse(
            "hoist.toml configures both compose hosts and Kubernetes",
            "say which one the workflow deploys to: --deploy compose or --deploy k8s",
        ),
        (None, Some(c), _) if !c.hosts.is_empty() => Ok(compose(c)),
        (None, _, true) => Ok(kube),
        (None, Some(c), false) => Ok(compose(c)),
        (None, None, false) => Ok(Deploy::None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowOptions {
    /// The branch PRs merge into.
    pub branch: String,
    /// `[registry] repository`, as written: an ECR host gets the OIDC login steps.
    pub repository: Option<String>,
    /// How the jobs install hoist.
    pub install: Install,
    pub deploy: Deploy,
    /// The `${VAR}`s hoist.toml uses: each comes from a repository variable of that name.
    pub vars: Vec<String>,
}

impl Default for WorkflowOptions {
    fn default() -> Self {
        WorkflowOptions {
            branch: "main".into(),
            repository: None,
            install: Install::Version(env!("CARGO_PKG_VERSION").into()),
            deploy: Deploy::None,
            vars: Vec::new(),
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

/// The release workflow (`release.yml`).
pub fn workflow(o: &WorkflowOptions) -> String {
    let ecr = o.repository.as_deref().and_then(ecr_region);
    let mut y = String::new();
    y.push_str("# Written by `hoist init --github-actions`.\n");
    y.push_str("# On every merged pull request: version from the PR title marker ([major], [minor], [patch]),\n");
    y.push_str("# build, images, push, the release tag, then ");
    y.push_str(match &o.deploy {
        Deploy::None | Deploy::ComposeLocal => "no deploy (see the TODO below).\n",
        Deploy::ComposeHosts { .. } => "the deploy to the [deploy.compose] hosts over SSH.\n",
        Deploy::Kubernetes(_) => "the deploy to Kubernetes.\n",
    });
    y.push_str("# hoist reads the PR title from the event payload itself, so no PR text is ever\n");
    y.push_str("# interpolated into a shell.\n");
    setup_comment(&mut y, o, ecr.is_some());
    y.push_str("name: release\n\n");
    y.push_str("on:\n  pull_request:\n    types: [closed]\n");
    y.push_str(&format!("    branches: [{}]\n\n", yaml_str(&o.branch)));
    y.push_str("permissions: {}\n\n");
    y.push_str("jobs:\n  release:\n    name: Release\n");
    y.push_str("    if: github.event.pull_request.merged == true\n");
    y.push_str("    runs-on: ubuntu-latest\n    timeout-minutes: 60\n");
    // Its registry secrets can be scoped to this environment (Settings > Environments).
    y.push_str("    environment: release\n");
    y.push_str("    concurrency:\n      group: hoist-release\n      cancel-in-progress: false\n");
    y.push_str("    permissions:\n      contents: write # push the release tag\n");
    if ecr.is_some() {
        y.push_str("      id-token: write # OIDC for the ECR login\n");
    }
    y.push_str("    outputs:\n");
    y.push_str("      release: ${{ steps.release.outputs.release }}\n");
    y.push_str("      tag: ${{ steps.release.outputs.tag }}\n");
    y.push_str("    steps:\n");
    checkout(&mut y);
    if let Some(region) = &ecr {
        ecr_login(&mut y, region);
    }
    install(&mut y, &o.install);
    y.push_str("      - name: Release\n        id: release\n        env:\n");
    y.push_str("          HOIST_GIT_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n");
    registry_env(&mut y, ecr.is_some());
    vars_env(&mut y, &o.vars);
    y.push_str("        run: hoist release --deploy none --allow-detached\n");
    match &o.deploy {
        Deploy::None => {
            y.push_str(
                "  # TODO: nothing to deploy to yet. Add [deploy.compose] hosts = [\"ssh://deploy@your-host\"] or\n",
            );
            y.push_str("  # [deploy.kubernetes] to hoist.toml, move this file away and run\n");
            y.push_str("  # `hoist init --github-actions --workflow-only` again for a workflow that deploys.\n");
        }
        Deploy::ComposeLocal => {
            y.push_str("  # TODO: [deploy.compose] has no hosts, and a CI runner is no place to run the app.\n");
            y.push_str(
                "  # Add hosts = [\"ssh://deploy@your-host\"] (or ssh://user@${DEPLOY_HOST} with a repository\n",
            );
            y.push_str("  # variable), move this file away and run `hoist init --github-actions --workflow-only`\n");
            y.push_str("  # again: the workflow then deploys to them over SSH.\n");
        }
        Deploy::ComposeHosts { .. } | Deploy::Kubernetes(_) => deploy_job(&mut y, o, ecr.as_deref()),
    }
    y
}

impl Deploy {
    /// Where the workflow deploys, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Deploy::None => "nothing (no deploy target in hoist.toml)",
            Deploy::ComposeLocal => "nothing yet ([deploy.compose] has no hosts)",
            Deploy::ComposeHosts { .. } => "the [deploy.compose] hosts, over SSH",
            Deploy::Kubernetes(KubeAuth::Kubeconfig) => "Kubernetes, with the KUBECONFIG secret",
            Deploy::Kubernetes(KubeAuth::Eks) => "Kubernetes on EKS, through OIDC",
            Deploy::Kubernetes(KubeAuth::Gke) => "Kubernetes on GKE, through OIDC",
        }
    }
}

/// The secrets and repository variables the workflows read, one line each.
pub fn setup_needs(o: &WorkflowOptions) -> Vec<String> {
    setup_lines(o, o.repository.as_deref().and_then(ecr_region).is_some())
}

/// The header lines that say which secrets and variables the workflow reads.
fn setup_comment(y: &mut String, o: &WorkflowOptions, ecr: bool) {
    let lines = setup_lines(o, ecr);
    y.push_str("#\n# Set in Settings > Secrets and variables > Actions:\n");
    for l in lines {
        y.push_str(&format!("#   {l}\n"));
    }
    y.push('\n');
}

fn setup_lines(o: &WorkflowOptions, ecr: bool) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    if ecr {
        lines.push("secret AWS_ROLE_ARN: the IAM role GitHub's OIDC token assumes (ECR push, and the deploy)".into());
    } else {
        lines.push("secrets REGISTRY_USERNAME, REGISTRY_PASSWORD: the registry's credentials".into());
    }
    match &o.deploy {
        Deploy::ComposeHosts { known_hosts_file } => {
            lines.push("secret HOIST_SSH_KEY: the private key of the deploy user on every host".into());
            match known_hosts_file {
                Some(f) => lines.push(format!("host keys: {f} ([deploy.compose] known_hosts), committed")),
                None => lines.push(
                    "secret HOIST_KNOWN_HOSTS: the hosts' keys (`ssh-keyscan -p PORT HOST`, each one checked)".into(),
                ),
            }
        }
        Deploy::Kubernetes(KubeAuth::Kubeconfig) => {
            lines.push("secret KUBECONFIG: a kubeconfig for the cluster (a deploy service account)".into())
        }
        Deploy::Kubernetes(KubeAuth::Eks) => {
            if ecr {
                lines.push("variable EKS_CLUSTER: the cluster's name (in the ECR region)".into());
            } else {
                lines.push("secret AWS_ROLE_ARN: the IAM role GitHub's OIDC token assumes".into());
                lines.push("variables AWS_REGION, EKS_CLUSTER: where the cluster is".into());
            }
        }
        Deploy::Kubernetes(KubeAuth::Gke) => {
            lines.push("variables GCP_WORKLOAD_IDENTITY_PROVIDER, GCP_SERVICE_ACCOUNT: the OIDC login".into());
            lines.push("variables GKE_CLUSTER, GKE_LOCATION: where the cluster is".into());
        }
        Deploy::None | Deploy::ComposeLocal => {}
    }
    for v in &o.vars {
        lines.push(format!("variable {v}: hoist.toml uses ${{{v}}}"));
    }
    lines
}

fn checkout(y: &mut String) {
    y.push_str(&format!("      - uses: {CHECKOUT}\n"));
    y.push_str("        with:\n");
    y.push_str("          ref: ${{ github.event.pull_request.merge_commit_sha }}\n");
    y.push_str("          fetch-depth: 0\n");
    y.push_str("          persist-credentials: false\n");
}

fn ecr_login(y: &mut String, region: &str) {
    y.push_str(&format!("      - name: AWS credentials (OIDC, no long-lived keys)\n        uses: {AWS_CREDENTIALS}\n"));
    y.push_str("        with:\n          role-to-assume: ${{ secrets.AWS_ROLE_ARN }}\n");
    y.push_str(&format!("          aws-region: {region}\n"));
    y.push_str(&format!("      - name: Log in to Amazon ECR\n        uses: {ECR_LOGIN}\n"));
}

/// The pinned install, cached under a key that is the pin: a new pin, a new binary.
/// Only for the pull-request job, which holds no secret and cannot write: a PR's own runs
/// (its workflow file is the PR's to change) write caches in the PR's scope, and its merge
/// run restores from that same scope first, so a job with a write token or a deploy key
/// that restored hoist from the cache could run a binary the PR's author built.
fn install_cached(y: &mut String, pin: &Install) {
    y.push_str(&format!("      - name: Cache hoist\n        id: hoist-cache\n        uses: {CACHE}\n"));
    y.push_str("        with:\n          path: ~/.cargo/bin/hoist\n");
    y.push_str(&format!("          key: hoist-${{{{ runner.os }}}}-${{{{ runner.arch }}}}-{}\n", pin.key()));
    y.push_str(&format!("      - name: Install hoist {}\n", pin.shown()));
    y.push_str("        if: steps.hoist-cache.outputs.cache-hit != 'true'\n");
    y.push_str(&format!("        run: {}\n", pin.command()));
}

/// The pinned install from source, for the jobs that hold credentials (see
/// [`install_cached`] for why they take nothing from the cache).
fn install(y: &mut String, pin: &Install) {
    y.push_str(&format!("      - name: Install hoist {}\n", pin.shown()));
    y.push_str(&format!("        run: {}\n", pin.command()));
}

fn registry_env(y: &mut String, ecr: bool) {
    if !ecr {
        y.push_str("          HOIST_REGISTRY_USERNAME: ${{ secrets.REGISTRY_USERNAME }}\n");
        y.push_str("          HOIST_REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}\n");
    }
}

fn vars_env(y: &mut String, vars: &[String]) {
    for v in vars {
        y.push_str(&format!("          {v}: ${{{{ vars.{v} }}}}\n"));
    }
}

/// The job that deploys the release the `release` job tagged: it holds the deploy
/// credentials and nothing that can write to the repository.
fn deploy_job(y: &mut String, o: &WorkflowOptions, ecr: Option<&str>) {
    let oidc = ecr.is_some() || matches!(o.deploy, Deploy::Kubernetes(KubeAuth::Eks | KubeAuth::Gke));
    y.push_str("\n  deploy:\n    name: Deploy\n    needs: release\n");
    y.push_str("    if: needs.release.outputs.release == 'true'\n");
    y.push_str("    runs-on: ubuntu-latest\n    timeout-minutes: 30\n");
    y.push_str("    environment: production\n");
    y.push_str("    concurrency:\n      group: hoist-deploy\n      cancel-in-progress: false\n");
    y.push_str("    permissions:\n      contents: read\n");
    if oidc {
        y.push_str("      id-token: write # OIDC for the cloud login\n");
    }
    y.push_str("    steps:\n");
    checkout(y);
    install(y, &o.install);
    let eks = matches!(o.deploy, Deploy::Kubernetes(KubeAuth::Eks));
    match ecr {
        Some(region) => ecr_login(y, region),
        None if eks => {
            y.push_str(&format!(
                "      - name: AWS credentials (OIDC, no long-lived keys)\n        uses: {AWS_CREDENTIALS}\n"
            ));
            y.push_str("        with:\n          role-to-assume: ${{ secrets.AWS_ROLE_ARN }}\n");
            y.push_str("          aws-region: ${{ vars.AWS_REGION }}\n");
        }
        None => {}
    }
    let command = match &o.deploy {
        Deploy::ComposeHosts { known_hosts_file } => {
            ssh_setup(y, known_hosts_file.is_none());
            "hoist deploy compose --tag \"$HOIST_TAG\""
        }
        Deploy::Kubernetes(auth) => {
            kube_setup(y, *auth);
            "hoist deploy k8s --tag \"$HOIST_TAG\""
        }
        Deploy::None | Deploy::ComposeLocal => unreachable!("no deploy job without a target"),
    };
    y.push_str("      - name: Deploy\n        env:\n");
    y.push_str("          HOIST_TAG: ${{ needs.release.outputs.tag }}\n");
    registry_env(y, ecr.is_some());
    if matches!(o.deploy, Deploy::Kubernetes(KubeAuth::Kubeconfig | KubeAuth::Eks)) {
        y.push_str("          KUBECONFIG: ${{ runner.temp }}/hoist-kubeconfig\n");
    }
    vars_env(y, &o.vars);
    y.push_str(&format!("        run: {command}\n"));
    // A self-hosted runner outlives the job: the credentials must not.
    match &o.deploy {
        Deploy::ComposeHosts { .. } => {
            y.push_str("      - name: Remove the SSH key\n        if: always()\n");
            y.push_str("        run: rm -f ~/.ssh/hoist_deploy_key\n");
        }
        Deploy::Kubernetes(KubeAuth::Kubeconfig | KubeAuth::Eks) => {
            y.push_str("      - name: Remove the kubeconfig\n        if: always()\n");
            y.push_str("        run: rm -f \"$RUNNER_TEMP/hoist-kubeconfig\"\n");
        }
        _ => {}
    }
}

/// The SSH key (and the hosts' keys) from secrets, through the environment, into files
/// only this user reads; host keys stay verified (`StrictHostKeyChecking yes`).
fn ssh_setup(y: &mut String, known_hosts_secret: bool) {
    y.push_str("      - name: SSH key and host keys (from secrets, through the environment)\n        env:\n");
    y.push_str("          SSH_PRIVATE_KEY: ${{ secrets.HOIST_SSH_KEY }}\n");
    if known_hosts_secret {
        y.push_str("          SSH_KNOWN_HOSTS: ${{ secrets.HOIST_KNOWN_HOSTS }}\n");
    }
    y.push_str("        run: |\n");
    y.push_str("          test -n \"$SSH_PRIVATE_KEY\" || { echo '::error::set the HOIST_SSH_KEY secret: the deploy user'\"'\"'s private key'; exit 1; }\n");
    if known_hosts_secret {
        y.push_str("          test -n \"$SSH_KNOWN_HOSTS\" || { echo '::error::set the HOIST_KNOWN_HOSTS secret: ssh-keyscan -p PORT HOST for each host, checked'; exit 1; }\n");
    }
    y.push_str("          install -d -m 700 ~/.ssh\n");
    y.push_str("          (umask 077 && printf '%s\\n' \"$SSH_PRIVATE_KEY\" > ~/.ssh/hoist_deploy_key)\n");
    if known_hosts_secret {
        y.push_str("          (umask 022 && printf '%s\\n' \"$SSH_KNOWN_HOSTS\" >> ~/.ssh/known_hosts)\n");
    }
    y.push_str("          (umask 077 && printf '%s\\n' 'Host *' '  IdentityFile ~/.ssh/hoist_deploy_key' '  IdentitiesOnly yes' '  StrictHostKeyChecking yes' >> ~/.ssh/config)\n");
}

fn kube_setup(y: &mut String, auth: KubeAuth) {
    match auth {
        KubeAuth::Kubeconfig => {
            y.push_str("      - name: kubeconfig (from a secret, through the environment)\n        env:\n");
            y.push_str("          KUBECONFIG_DATA: ${{ secrets.KUBECONFIG }}\n        run: |\n");
            y.push_str("          test -n \"$KUBECONFIG_DATA\" || { echo '::error::set the KUBECONFIG secret: a kubeconfig for the cluster'; exit 1; }\n");
            y.push_str(
                "          (umask 077 && printf '%s\\n' \"$KUBECONFIG_DATA\" > \"$RUNNER_TEMP/hoist-kubeconfig\")\n",
            );
        }
        KubeAuth::Eks => {
            y.push_str("      - name: kubeconfig for the EKS cluster\n        env:\n");
            y.push_str("          EKS_CLUSTER: ${{ vars.EKS_CLUSTER }}\n        run: |\n");
            y.push_str("          test -n \"$EKS_CLUSTER\" || { echo '::error::set the EKS_CLUSTER repository variable: the cluster name'; exit 1; }\n");
            y.push_str("          (umask 077 && aws eks update-kubeconfig --name \"$EKS_CLUSTER\" --kubeconfig \"$RUNNER_TEMP/hoist-kubeconfig\")\n");
        }
        KubeAuth::Gke => {
            y.push_str(&format!(
                "      - name: Google Cloud credentials (OIDC, no long-lived keys)\n        uses: {GCP_AUTH}\n"
            ));
            y.push_str("        with:\n");
            y.push_str("          workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}\n");
            y.push_str("          service_account: ${{ vars.GCP_SERVICE_ACCOUNT }}\n");
            // The action sets KUBECONFIG for the later steps itself.
            y.push_str(&format!("      - name: kubeconfig for the GKE cluster\n        uses: {GKE_CREDENTIALS}\n"));
            y.push_str("        with:\n");
            y.push_str("          cluster_name: ${{ vars.GKE_CLUSTER }}\n");
            y.push_str("          location: ${{ vars.GKE_LOCATION }}\n");
        }
    }
}

/// The pull-request workflow (`pr-title.yml`): `hoist version --check` on every title
/// change, with a read-only token.
pub fn pr_workflow(o: &WorkflowOptions) -> String {
    let mut y = String::new();
    y.push_str("# Written by `hoist init --github-actions`.\n");
    y.push_str("# On every pull request: checks the title's release marker ([major], [minor], [patch]) and\n");
    y.push_str("# writes the release this PR makes into the job summary, so a typo is seen before the merge.\n");
    y.push_str("# hoist reads the title from the event payload itself: no PR text reaches a shell.\n");
    y.push_str("name: pr-title\n\n");
    y.push_str("on:\n  pull_request:\n    types: [opened, edited, synchronize]\n");
    y.push_str(&format!("    branches: [{}]\n\n", yaml_str(&o.branch)));
    y.push_str("permissions: {}\n\n");
    y.push_str("concurrency:\n  group: hoist-pr-title-${{ github.event.pull_request.number }}\n");
    y.push_str("  cancel-in-progress: true\n\n");
    y.push_str("jobs:\n  check:\n    name: Release marker\n    runs-on: ubuntu-latest\n    timeout-minutes: 15\n");
    y.push_str("    permissions:\n      contents: read\n");
    y.push_str("    steps:\n");
    // The PR's merge preview: the tags reachable from it give the next version.
    y.push_str(&format!("      - uses: {CHECKOUT}\n"));
    y.push_str("        with:\n          fetch-depth: 0\n          persist-credentials: false\n");
    install_cached(&mut y, &o.install);
    y.push_str("      - name: Check the release marker\n");
    y.push_str("        run: hoist version --check\n");
    y
}

/// One `run:` step of a generated workflow, as a test (or a person) would run it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    pub name: String,
    /// `env:` as written: each name and its `${{ … }}` expression or value.
    pub env: Vec<(String, String)>,
    pub run: String,
}

/// The `run:` steps of the `deploy` job in `release.yml`'s text, in order, with their
/// environment: the credential setup and the deploy command. A test host gets them run
/// with the secrets' values in place of the expressions.
pub fn deploy_steps(workflow_text: &str) -> Result<Vec<RunStep>, String> {
    let doc: serde_json::Value = serde_saphyr::from_str(workflow_text).map_err(|e| e.to_string())?;
    let steps = doc["jobs"]["deploy"]["steps"].as_array().ok_or("the workflow has no deploy job")?;
    Ok(steps
        .iter()
        .filter_map(|s| {
            let run = s["run"].as_str()?;
            let env = s["env"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Some(RunStep { name: s["name"].as_str().unwrap_or("").to_string(), env, run: run.to_string() })
        })
        .collect())
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
        assert_eq!(ecr_region("${REGISTRY}/shop"), None);
    }

    #[test]
    fn choose_deploy_table() {
        use crate::{ComposeFacts, ConfigFacts};
        let hosts = ComposeFacts { hosts: vec!["ssh://d@h".into()], known_hosts: None };
        let local = ComposeFacts::default();
        let facts = |compose: Option<&ComposeFacts>, kubernetes: bool| ConfigFacts {
            compose: compose.cloned(),
            kubernetes,
            ..ConfigFacts::default()
        };
        let remote = Deploy::ComposeHosts { known_hosts_file: None };
        let kube = Deploy::Kubernetes(KubeAuth::Kubeconfig);
        // (compose, kubernetes, --deploy, --cloud, Ok(deploy) or Err(message part))
        let cases: Vec<(Option<&ComposeFacts>, bool, Option<Target>, Option<KubeAuth>, Result<Deploy, &str>)> = vec![
            (None, false, None, None, Ok(Deploy::None)),
            (Some(&local), false, None, None, Ok(Deploy::ComposeLocal)),
            (Some(&hosts), false, None, None, Ok(remote.clone())),
            (None, true, None, None, Ok(kube.clone())),
            (Some(&local), true, None, None, Ok(kube.clone())),
            (Some(&hosts), true, None, None, Err("both compose hosts and Kubernetes")),
            (Some(&hosts), true, Some(Target::Compose), None, Ok(remote.clone())),
            (Some(&hosts), true, Some(Target::Kubernetes), None, Ok(kube.clone())),
            (Some(&hosts), true, None, Some(KubeAuth::Eks), Ok(Deploy::Kubernetes(KubeAuth::Eks))),
            (None, true, None, Some(KubeAuth::Gke), Ok(Deploy::Kubernetes(KubeAuth::Gke))),
            (Some(&hosts), false, Some(Target::None), None, Ok(Deploy::None)),
            (None, false, Some(Target::Compose), None, Err("no [deploy.compose]")),
            (Some(&hosts), false, Some(Target::Kubernetes), None, Err("no [deploy.kubernetes]")),
            (Some(&hosts), false, None, Some(KubeAuth::Eks), Err("no [deploy.kubernetes]")),
            (None, true, Some(Target::Compose), Some(KubeAuth::Gke), Err("--cloud is for a Kubernetes deploy")),
        ];
        for (compose, kubernetes, want, cloud, expected) in cases {
            let got = choose_deploy(&facts(compose, kubernetes), want, cloud);
            match (expected, got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{compose:?} {kubernetes} {want:?} {cloud:?}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{e}"),
                (w, g) => panic!("{compose:?} {kubernetes} {want:?} {cloud:?}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn install_pins_table() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let git = "https://github.com/hoist-dev/hoist";
        assert_eq!(Install::version("0.4.1").unwrap().command(), "cargo install --locked --version 0.4.1 hoist");
        assert_eq!(
            Install::rev(git, &sha.to_uppercase()).unwrap().command(),
            format!("cargo install --locked --git {git} --rev {sha} hoist")
        );
        for (what, got) in [
            ("a range", Install::version("^0.4")),
            ("shell text", Install::version("1.0.0; rm -rf ~")),
            ("a branch", Install::rev(git, "main")),
            ("a short sha", Install::rev(git, &sha[..12])),
            ("plain http", Install::rev("http://github.com/hoist-dev/hoist", sha)),
            ("shell text in the URL", Install::rev("https://x/$(id)", sha)),
        ] {
            assert!(got.is_err(), "{what}: {got:?}");
        }
    }
}
