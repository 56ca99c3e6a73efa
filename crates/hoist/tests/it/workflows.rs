//! The GitHub Actions workflows `hoist init --github-actions` writes, one per deploy target
//! (no deploy, compose on this host, one host, several hosts, Kubernetes by kubeconfig,
//! EKS, GKE, ECR with EKS): snapshot-pinned, parsed and checked for their safety rules,
//! passed through zizmor (every persona, 0 findings) and check-jsonschema; their
//! credential steps run for real with bash; and `hoist version --check`, the pull-request
//! job's command, against real repositories and event payloads.

use std::path::{Path, PathBuf};

use hoist_init::RunStep;
use serde_json::Value;

use crate::common::TestContext;
use crate::hoist_snapshot;

/// One fixture per target: (name, hoist.toml, extra init flags).
const VARIANTS: &[(&str, &str, &[&str])] = &[
    ("none", "[project]\nname = \"shop\"\n", &[]),
    ("compose_local", "[deploy.compose]\nfiles = [\"docker-compose-prod.yaml\"]\n", &[]),
    ("one_host", "[deploy.compose]\nhosts = [\"ssh://deploy@app.example.com\"]\n", &[]),
    (
        "several_hosts",
        "[registry]\nrepository = \"${REGISTRY}/shop\"\n\n[deploy.compose]\nhosts = [\"ssh://deploy@${HOST_A}\", \"ssh://deploy@${HOST_B}:2222\", \"ssh://deploy@10.0.0.3\"]\nbatch = 1\nknown_hosts = \"deploy/known_hosts\"\n",
        &[],
    ),
    ("kubeconfig", "[deploy.kubernetes]\nmanifests = [\"k8s\"]\n", &[]),
    ("eks", "[deploy.kubernetes]\nmanifests = [\"k8s\"]\n", &["--cloud", "eks"]),
    ("gke", "[deploy.kubernetes]\nmanifests = [\"k8s\"]\n", &["--cloud", "gke"]),
    (
        "ecr_eks",
        "[registry]\nrepository = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop\"\n\n[deploy.kubernetes]\n",
        &["--cloud", "eks", "--hoist-rev", "0123456789abcdef0123456789abcdef01234567"],
    ),
];

/// `hoist init --github-actions --workflow-only` on a repository with `config`.
fn init(config: &str, flags: &[&str]) -> (TestContext, PathBuf, PathBuf) {
    // The default pin is this hoist's own version: the snapshots outlive a version bump.
    let version = format!(r"\b{}\b", env!("CARGO_PKG_VERSION").replace('.', r"\."));
    let ctx = TestContext::repo().with_filter(&version, "[HOIST_VERSION]");
    let repo = ctx.repo_ref();
    repo.write("hoist.toml", config);
    repo.commit("initial");
    let mut args = vec!["init", "--github-actions", "--workflow-only"];
    args.extend_from_slice(flags);
    ctx.hoist(&args).ok();
    let dir = ctx.path().join(".github/workflows");
    (ctx, dir.join("release.yml"), dir.join("pr-title.yml"))
}

fn load(path: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let yaml = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
    (text, yaml)
}

fn is_sha_pin(uses: &str) -> bool {
    uses.split_once('@').is_some_and(|(_, sha)| sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The rules every generated workflow keeps, checked on the parsed YAML.
fn check_rules(name: &str, text: &str, wf: &Value) {
    assert_eq!(wf["permissions"], serde_json::json!({}), "{name}: top-level permissions must be empty");
    for (job_name, job) in wf["jobs"].as_object().unwrap() {
        let perms = job["permissions"].as_object().unwrap_or_else(|| panic!("{name}/{job_name}: no permissions"));
        for (scope, level) in perms {
            let allowed = match scope.as_str() {
                "contents" => job_name == "release" || level == "read",
                // OIDC only where a cloud login runs.
                "id-token" => {
                    let steps = job["steps"].to_string();
                    steps.contains("configure-aws-credentials") || steps.contains("google-github-actions/auth")
                }
                _ => false,
            };
            assert!(allowed, "{name}/{job_name}: {scope}: {level}");
        }
        let steps = job["steps"].as_array().unwrap();
        for step in steps {
            if let Some(run) = step["run"].as_str() {
                // Values reach a shell only through the environment.
                assert!(!run.contains("${{"), "{name}/{job_name}: an expression reaches a shell: {run}");
            }
            if let Some(uses) = step["uses"].as_str() {
                assert!(is_sha_pin(uses), "{name}: not pinned by SHA: {uses}");
                let line = text.lines().find(|l| l.contains(uses)).unwrap();
                assert!(line.contains(" # v"), "{name}: the pin has no version comment: {line}");
                if uses.starts_with("actions/checkout@") {
                    assert_eq!(step["with"]["fetch-depth"], 0, "{name}/{job_name}");
                    assert_eq!(step["with"]["persist-credentials"], false, "{name}/{job_name}");
                }
            }
            // Secrets only in `env:` and action inputs, never elsewhere in a step.
            for (key, value) in step.as_object().unwrap() {
                if !["env", "with"].contains(&key.as_str()) {
                    assert!(!value.to_string().contains("secrets."), "{name}/{job_name}: {key}: {value}");
                }
            }
        }
        // The install is pinned; cached under a key that is the pin only in the PR job: a
        // job with a write token or a deploy key never runs what a PR's runs cached.
        let install =
            steps.iter().find(|s| s["name"].as_str().is_some_and(|n| n.starts_with("Install hoist"))).unwrap();
        let command = install["run"].as_str().unwrap();
        assert!(command.starts_with("cargo install --locked "), "{name}: {command}");
        let pin = if command.contains("--git") {
            let rev = command.split_once("--rev ").unwrap().1.split(' ').next().unwrap();
            assert!(rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()), "{name}: {command}");
            rev
        } else {
            let version = command.split_once("--version ").unwrap().1.split(' ').next().unwrap();
            assert!(version.split('.').all(|n| n.parse::<u64>().is_ok()), "{name}: {command}");
            version
        };
        let cache = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/cache@")));
        if job_name == "check" {
            let key =
                cache.unwrap_or_else(|| panic!("{name}: the PR job caches hoist"))["with"]["key"].as_str().unwrap();
            assert_eq!(key.rsplit('-').next().unwrap(), pin, "{name}: the cache key is the pin");
            assert_eq!(install["if"], "steps.hoist-cache.outputs.cache-hit != 'true'", "{name}");
        } else {
            assert!(cache.is_none(), "{name}/{job_name}: a job with credentials restores from the cache");
            assert!(install.get("if").is_none(), "{name}/{job_name}");
        }
    }
    assert!(!text.contains("pull_request.title"), "{name}: the workflow must not touch the PR title");
}

/// check-jsonschema, then zizmor in each persona: no finding at any level.
fn run_checkers(paths: &[&Path]) {
    let schema = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(paths)
        .output()
        .expect("check-jsonschema is installed (pip install -r requirements-ci.txt)");
    assert!(
        schema.status.success(),
        "check-jsonschema: {}{}",
        String::from_utf8_lossy(&schema.stdout),
        String::from_utf8_lossy(&schema.stderr)
    );
    for persona in ["regular", "pedantic", "auditor"] {
        let zizmor = std::process::Command::new("zizmor")
            .args(["--offline", "--no-ignores", "--format", "json", "--persona", persona])
            .args(paths)
            .output()
            .expect("zizmor is installed (pip install -r requirements-ci.txt)");
        let findings: Value = serde_json::from_slice(&zizmor.stdout).unwrap_or_else(|e| {
            panic!(
                "zizmor ({e}): {}{}",
                String::from_utf8_lossy(&zizmor.stdout),
                String::from_utf8_lossy(&zizmor.stderr)
            )
        });
        assert_eq!(findings, serde_json::json!([]), "zizmor --persona {persona}: {paths:?}");
    }
}

#[test]
fn every_variant_is_safe_valid_and_pinned() {
    for (name, config, flags) in VARIANTS {
        let (ctx, release, pr) = init(config, flags);
        let (release_text, release_yaml) = load(&release);
        let (pr_text, pr_yaml) = load(&pr);
        ctx.settings().bind(|| {
            insta::assert_snapshot!(format!("workflow_{name}_release"), release_text);
            insta::assert_snapshot!(format!("workflow_{name}_pr_title"), pr_text);
        });
        check_rules(name, &release_text, &release_yaml);
        check_rules(name, &pr_text, &pr_yaml);
        run_checkers(&[&release, &pr]);

        // The release job: a merged PR, one at a time, the tag pushed with the job's token.
        assert_eq!(release_yaml["on"]["pull_request"]["types"], serde_json::json!(["closed"]), "{name}");
        let job = &release_yaml["jobs"]["release"];
        assert_eq!(job["if"], "github.event.pull_request.merged == true", "{name}");
        assert_eq!(job["permissions"]["contents"], "write", "{name}");
        assert_eq!(
            job["steps"].as_array().unwrap().last().unwrap()["run"],
            "hoist release --deploy none --allow-detached"
        );

        // The deploy job exists exactly when there is somewhere to deploy to.
        let deploy = &release_yaml["jobs"]["deploy"];
        let deploys = !matches!(*name, "none" | "compose_local");
        assert_eq!(deploy.is_object(), deploys, "{name}");
        if !deploys {
            assert!(release_text.contains("# TODO:"), "{name}: says how to add a target");
            assert!(release_text.contains("hosts = [\"ssh://deploy@your-host\"]"), "{name}");
        } else {
            assert_eq!(deploy["needs"], "release", "{name}");
            assert_eq!(deploy["if"], "needs.release.outputs.release == 'true'", "{name}");
            assert_eq!(deploy["permissions"]["contents"], "read", "{name}: the deploy job cannot write");
            let oidc = matches!(*name, "eks" | "gke" | "ecr_eks");
            assert_eq!(deploy["permissions"]["id-token"].as_str(), oidc.then_some("write"), "{name}");
            let step = deploy_step(&release);
            let want = if name.contains("host") {
                "hoist deploy compose --tag \"$HOIST_TAG\""
            } else {
                "hoist deploy k8s --tag \"$HOIST_TAG\""
            };
            assert_eq!(step.run, want, "{name}");
            assert!(step.env.contains(&("HOIST_TAG".into(), "${{ needs.release.outputs.tag }}".into())), "{name}");
        }

        // The PR check: every title change, a read-only token, hoist reads the title.
        assert_eq!(pr_yaml["on"]["pull_request"]["types"], serde_json::json!(["opened", "edited", "synchronize"]));
        let check = &pr_yaml["jobs"]["check"];
        assert_eq!(check["permissions"], serde_json::json!({"contents": "read"}), "{name}");
        assert_eq!(check["steps"].as_array().unwrap().last().unwrap()["run"], "hoist version --check");
    }
}

#[test]
fn variables_of_the_config_come_from_repository_variables() {
    let (_ctx, release, _) = init(VARIANTS[3].1, &[]);
    let (text, _) = load(&release);
    for var in ["HOST_A", "HOST_B", "REGISTRY"] {
        assert!(text.contains(&format!("          {var}: ${{{{ vars.{var} }}}}\n")), "{var}: {text}");
        assert!(text.contains(&format!("#   variable {var}: hoist.toml uses ${{{var}}}\n")), "{var}: {text}");
    }
    // hoist init says the same: where the workflow deploys and what to set.
    let ctx = TestContext::repo();
    ctx.repo_ref().write("hoist.toml", VARIANTS[3].1);
    let json = ctx.hoist(&["init", "--github-actions", "--workflow-only", "--output", "json"]).ok().json();
    assert_eq!(json["workflow"]["deploy"], "the [deploy.compose] hosts, over SSH");
    let needs: Vec<&str> = json["workflow"]["needs"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(needs.contains(&"variable HOST_A: hoist.toml uses ${HOST_A}"), "{needs:?}");
    assert!(needs.iter().any(|n| n.starts_with("secret HOIST_SSH_KEY")), "{needs:?}");
    // The host keys are committed ([deploy.compose] known_hosts): no secret asked for.
    assert!(!text.contains("HOIST_KNOWN_HOSTS"), "{text}");
    assert!(text.contains("deploy/known_hosts ([deploy.compose] known_hosts), committed"), "{text}");
}

/// The `deploy` job's last `run:` step: the deploy command. The test hook for a real
/// host: `deploy_steps` gives every step to run, in order, with its environment.
pub(crate) fn deploy_step(release_yml: &Path) -> RunStep {
    let steps = hoist_init::deploy_steps(&std::fs::read_to_string(release_yml).unwrap()).unwrap();
    steps.into_iter().find(|s| s.name == "Deploy").expect("a Deploy step")
}

/// Run a generated `run:` script as the runner would: bash, `-e`, the step's environment
/// with the expressions replaced by `values` (a missing secret is an empty string).
pub(crate) fn run_script(ctx: &TestContext, step: &RunStep, values: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = ctx.sealed("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &step.run]);
    for (name, _) in &step.env {
        let value = values.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or("");
        cmd.env(name, value);
    }
    cmd.env("RUNNER_TEMP", ctx.scratch("runner-temp"));
    cmd.output().expect("bash")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[test]
fn the_ssh_step_writes_the_secrets_as_data_into_private_files() {
    let (ctx, release, _) = init(VARIANTS[2].1, &[]);
    let steps = hoist_init::deploy_steps(&std::fs::read_to_string(&release).unwrap()).unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("Install hoist {}", env!("CARGO_PKG_VERSION")).as_str(),
            "SSH key and host keys (from secrets, through the environment)",
            "Deploy",
            "Remove the SSH key"
        ]
    );
    let setup = &steps[1];
    assert_eq!(
        setup.env,
        [
            ("SSH_KNOWN_HOSTS".to_string(), "${{ secrets.HOIST_KNOWN_HOSTS }}".to_string()),
            ("SSH_PRIVATE_KEY".to_string(), "${{ secrets.HOIST_SSH_KEY }}".to_string()),
        ]
    );
    std::fs::create_dir_all(ctx.scratch("runner-temp")).unwrap();
    // A secret that holds shell text stays text.
    let pwned = ctx.scratch("x").join("pwned");
    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n$(touch {0})`touch {0}`\n-----END OPENSSH PRIVATE KEY-----",
        pwned.display()
    );
    let known = "app.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoistTestKeyOnly";
    let out = run_script(&ctx, setup, &[("SSH_PRIVATE_KEY", &key), ("SSH_KNOWN_HOSTS", known)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!pwned.exists(), "a secret's text ran as a command");
    let ssh = ctx.home().join(".ssh");
    assert_eq!(mode(&ssh), 0o700);
    assert_eq!(mode(&ssh.join("hoist_deploy_key")), 0o600);
    assert_eq!(mode(&ssh.join("config")), 0o600);
    assert_eq!(std::fs::read_to_string(ssh.join("hoist_deploy_key")).unwrap(), format!("{key}\n"));
    assert_eq!(std::fs::read_to_string(ssh.join("known_hosts")).unwrap(), format!("{known}\n"));
    let config = std::fs::read_to_string(ssh.join("config")).unwrap();
    assert!(
        config.contains("  StrictHostKeyChecking yes\n") && config.contains("  IdentityFile ~/.ssh/hoist_deploy_key\n"),
        "{config}"
    );
    // ssh itself reads that config: the key, and host keys verified. (`-F`: ssh finds
    // `~` through the password database, which is the runner's HOME, but not this test's.)
    let ssh_g =
        ctx.sealed("ssh").arg("-F").arg(ssh.join("config")).args(["-G", "deploy@app.example.com"]).output().unwrap();
    let effective = String::from_utf8_lossy(&ssh_g.stdout);
    assert!(effective.contains("stricthostkeychecking true"), "{effective}");
    assert!(effective.lines().any(|l| l.starts_with("identityfile") && l.ends_with("hoist_deploy_key")), "{effective}");

    // A missing secret stops the job with what to set, and writes nothing.
    std::fs::remove_dir_all(&ssh).unwrap();
    let out = run_script(&ctx, setup, &[("SSH_KNOWN_HOSTS", known)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error::set the HOIST_SSH_KEY secret"), "{out:?}");
    assert!(!ssh.exists());

    // The cleanup step removes the key.
    run_script(&ctx, setup, &[("SSH_PRIVATE_KEY", &key), ("SSH_KNOWN_HOSTS", known)]);
    assert!(ssh.join("hoist_deploy_key").exists());
    let out = run_script(&ctx, &steps[3], &[]);
    assert!(out.status.success());
    assert!(!ssh.join("hoist_deploy_key").exists());
}

#[test]
fn the_kubeconfig_step_writes_the_secret_into_a_private_file() {
    let (ctx, release, _) = init(VARIANTS[4].1, &[]);
    let steps = hoist_init::deploy_steps(&std::fs::read_to_string(&release).unwrap()).unwrap();
    let setup = steps.iter().find(|s| s.name.starts_with("kubeconfig")).unwrap();
    let temp = ctx.scratch("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let kubeconfig = "apiVersion: v1\nkind: Config\n# $(id) `id`\n";
    let out = run_script(&ctx, setup, &[("KUBECONFIG_DATA", kubeconfig)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = temp.join("hoist-kubeconfig");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{kubeconfig}\n"));
    // The deploy step reads exactly that file.
    let deploy = deploy_step(&release);
    assert!(deploy.env.contains(&("KUBECONFIG".into(), "${{ runner.temp }}/hoist-kubeconfig".into())), "{deploy:?}");
    let out = run_script(&ctx, setup, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error::set the KUBECONFIG secret"), "{out:?}");
}

#[test]
fn init_refuses_what_it_cannot_back() {
    // Both targets configured: the user says which.
    let both = "[deploy.compose]\nhosts = [\"ssh://deploy@h1\"]\n\n[deploy.kubernetes]\n";
    let ctx = TestContext::repo();
    ctx.repo_ref().write("hoist.toml", both);
    let run = ctx.hoist(&["init", "--github-actions", "--workflow-only"]).fails(1);
    hoist_snapshot!(ctx, "workflow_both_targets", run);
    assert!(!ctx.path().join(".github").exists(), "nothing written");
    ctx.hoist(&["init", "--github-actions", "--workflow-only", "--deploy", "k8s"]).ok();
    // Written once; a second run changes nothing, whichever file is there.
    std::fs::remove_file(ctx.path().join(".github/workflows/release.yml")).unwrap();
    let run = ctx.hoist(&["init", "--github-actions", "--workflow-only", "--deploy", "k8s"]).fails(1);
    assert!(run.stderr.contains("pr-title.yml already exists"), "{}", run.stderr);
    assert!(!ctx.path().join(".github/workflows/release.yml").exists(), "no half-written pair");

    for (flags, says) in [
        (&["--cloud", "eks"][..], "no [deploy.kubernetes]"),
        (&["--hoist-rev", "main"][..], "--hoist-rev: `main` is not a full commit SHA"),
        (&["--hoist-version", "1.0; id"][..], "--hoist-version: `1.0; id` is not a version"),
    ] {
        let ctx = TestContext::repo();
        ctx.repo_ref().write("hoist.toml", VARIANTS[2].1);
        let mut args = vec!["init", "--github-actions", "--workflow-only"];
        args.extend_from_slice(flags);
        let run = ctx.hoist(&args).fails(1);
        assert!(run.stderr.contains(says), "{flags:?}: {}", run.stderr);
        assert!(!ctx.path().join(".github").exists(), "{flags:?}: nothing written");
    }
}

/// A repository whose latest release is `v1.2.0-<sha>`, a PR merged on top, and the
/// event payload GitHub would hand the PR job for `title`.
fn pr_repo(config: &str) -> (TestContext, String) {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write("hoist.toml", config);
    let first = repo.commit("initial");
    repo.tag(&format!("v1.2.0-{}", &first[..7]), &first);
    repo.write("src/chat.java", "class Chat {}\n");
    let head = repo.commit("chat");
    (ctx, head)
}

/// `hoist version --check` with the title in the event payload; the summary written.
fn check(ctx: &TestContext, title: &str) -> (crate::common::Run, String) {
    let event = ctx.scratch("gh").join("event.json");
    std::fs::write(&event, serde_json::json!({"action": "edited", "pull_request": {"title": title}}).to_string())
        .unwrap();
    let summary = ctx.scratch("gh").join("summary.md");
    let _ = std::fs::remove_file(&summary);
    let env = [("GITHUB_EVENT_PATH", event.to_str().unwrap()), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let run = ctx.hoist_with(&["version", "--check"], &env);
    (run, std::fs::read_to_string(&summary).unwrap_or_default())
}

#[test]
fn the_pr_check_writes_the_next_version_into_the_summary() {
    let (ctx, _) = pr_repo("[project]\nname = \"shop\"\n");
    let (run, summary) = check(&ctx, "[minor] add chat");
    let run = run.ok();
    assert!(run.stdout.contains("next:    v1.3.0-"), "{}", run.stdout);
    assert_eq!(
        summary,
        "### hoist: merging this PR releases 1.3.0\n\n`[minor]` in the title: 1.2.0 → 1.3.0. The tag follows `v{version}-{sha}`, with the merge commit's hash.\n"
    );

    // No marker, default_bump = "none": no release, and the check passes saying so.
    let (run, summary) = check(&ctx, "add chat");
    run.ok();
    assert!(summary.starts_with("### hoist: merging this PR releases nothing\n"), "{summary}");
    assert!(summary.contains("put one of [major], [minor], [patch] in the title"), "{summary}");
}

#[test]
fn the_pr_check_applies_the_default_bump() {
    let (ctx, _) = pr_repo("[version]\ndefault_bump = \"patch\"\n");
    let (run, summary) = check(&ctx, "add chat");
    run.ok();
    assert!(summary.contains("no marker in the title, so `default_bump = \"patch\"`: 1.2.0 → 1.2.1"), "{summary}");
}

#[test]
fn the_pr_check_refuses_a_wrong_marker() {
    let (ctx, _) = pr_repo("[project]\nname = \"shop\"\n");
    let (run, summary) = check(&ctx, "[mnior] add chat");
    let run = run.fails(1);
    hoist_snapshot!(ctx, "pr_check_typo", run);
    assert!(run.stderr.contains("did you mean [minor]?"), "{}", run.stderr);
    assert!(summary.starts_with("### hoist: the PR title's release marker is wrong\n\n"), "{summary}");
    assert!(summary.contains("    error: the PR title has `[mnior]`, which is no release marker\n"), "{summary}");
    // Without --check, `hoist version` keeps reading a typo as "no marker".
    ctx.hoist_with(&["version"], &[("GITHUB_EVENT_PATH", ctx.scratch("gh").join("event.json").to_str().unwrap())]).ok();

    let (run, summary) = check(&ctx, "[minor] chat [major] API");
    let run = run.fails(1);
    assert!(run.stderr.contains("conflicting markers `[minor]` and `[major]`"), "{}", run.stderr);
    assert!(summary.contains("conflicting markers"), "{summary}");
}

#[test]
fn a_hostile_title_is_only_data() {
    let (ctx, _) = pr_repo("[project]\nname = \"shop\"\n");
    let pwned = ctx.scratch("x").join("pwned");
    let p = pwned.display();
    let title = format!("[patch] $(touch {p}) `touch {p}`; touch {p} <img src=x onerror=alert(1)> | x");
    let (run, summary) = check(&ctx, &title);
    run.ok();
    assert!(!pwned.exists());
    assert!(summary.contains("1.2.0 → 1.2.1"), "{summary}");
    for text in ["touch", "<img", "$("] {
        assert!(!summary.contains(text), "the title's text reached the summary: {summary}");
    }
    // A hostile word in brackets is quoted, inside the code block only.
    let (run, summary) = check(&ctx, &format!("[pach] <script>x</script> $(touch {p})"));
    run.fails(1);
    assert!(!pwned.exists());
    assert!(!summary.contains("<script>"), "{summary}");
    assert!(summary.lines().skip(2).all(|l| l.is_empty() || l.starts_with("    ")), "{summary}");
}
