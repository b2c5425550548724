//! The deployment files say what works: the compose file's commands lay
//! out and run a 4 + 1 consortium that commits transfers, the systemd unit
//! passes `systemd-analyze verify` without a warning, and the Dockerfile
//! builds the binary the workspace has. (No container engine runs on the
//! test machines, so the image itself is not built here.)

use crate::harness::*;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Each service of the compose file with its `command`, in file order.
fn compose_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut service = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            service = trimmed.trim_end_matches(':').to_string();
        }
        if let Some(list) = trimmed.strip_prefix("command: ") {
            let args: Vec<String> = serde_json::from_str(list)
                .unwrap_or_else(|e| panic!("{service}'s command {list}: {e}"));
            out.push((service.clone(), args));
        }
    }
    out
}

#[test]
fn the_compose_file_runs_a_consortium_that_commits() {
    let _one = exclusive();
    let commands = compose_commands(&repo_file("deploy/compose.yaml"));
    let volume = "/var/lib/hutong";
    let dir = tempfile::tempdir().unwrap();
    let local = |arg: &String| arg.replace(volume, &dir.path().display().to_string());

    // The layout service, run as the compose file runs it.
    let (_, layout) = commands
        .iter()
        .find(|(s, _)| s == "layout")
        .expect("a layout service");
    let layout: Vec<String> = layout.iter().map(local).collect();
    let args: Vec<&str> = layout.iter().map(String::as_str).collect();
    let text = hutong(&args);
    let mut nodes = laid_out(&text);

    // One service per laid-out node, each running `node --home` on it.
    let services: Vec<&(String, Vec<String>)> =
        commands.iter().filter(|(s, _)| s != "layout").collect();
    assert_eq!(services.len(), nodes.len(), "{commands:?}\n{text}");
    for (service, args) in &services {
        let node = nodes
            .iter()
            .find(|n| &n.name == service)
            .unwrap_or_else(|| panic!("service {service} runs no laid-out node:\n{text}"));
        let args: Vec<String> = args.iter().map(local).collect();
        assert_eq!(
            args,
            ["node", "--home", &node.home.display().to_string()],
            "{service}"
        );
    }

    // Run them (as the harness runs `node --home`): the chain commits.
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let keys = dir.path().join("net/keys");
    let mut cluster = Cluster {
        _dir: dir,
        keys,
        nodes,
    };
    for i in 0..cluster.nodes.len() {
        cluster.start(i);
    }
    runtime().block_on(async {
        // The nodes answer once they are up; the first has the wallets.
        cluster.wait_height(0, 1, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 4).await;
        let mut hashes = Vec::new();
        for k in 0..8 {
            let tx = wallets.transfer(k % 4, (k + 1) % 4, 100);
            let node = k % cluster.nodes.len();
            hashes.push(cluster.client(node).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(0), &hashes).await;
        let height = cluster.height(0).await.unwrap();
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.assert_agree(&all, height).await;
    });
}

#[test]
fn the_systemd_unit_passes_systemd_analyze() {
    let Ok(analyze) = which("systemd-analyze") else {
        skipped(
            "deploy::the_systemd_unit_passes_systemd_analyze",
            "systemd-analyze is not installed",
        );
        return;
    };
    let unit = repo_file("deploy/hutong.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/hutong node --home /var/lib/hutong"));
    // `verify` wants the program to exist: the one this test was built with.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hutong.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/hutong", BIN)).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unknown or misspelt setting is only a warning (exit 0) to systemd:
    // any word about the unit fails the test.
    assert!(out.status.success(), "{stderr}");
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("hutong.service"))
        .collect();
    assert!(about_unit.is_empty(), "{}", about_unit.join("\n"));
}

#[test]
fn the_dockerfile_builds_the_hutong_binary_and_ships_only_it() {
    let docker = repo_file("Dockerfile");
    let cli = repo_file("cli/Cargo.toml");
    assert!(cli.contains("name = \"hutong-cli\""));
    assert!(cli.contains("[[bin]]\nname = \"hutong\""));
    assert!(docker.contains("cargo build --release --locked -p hutong-cli --bin hutong"));
    // The builder's Rust is at least the workspace's rust-version.
    let workspace = repo_file("Cargo.toml");
    let needed = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("a rust-version");
    let image = docker
        .lines()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .and_then(|l| l.split('-').next())
        .expect("a rust builder image");
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    assert!(version(image) >= version(needed), "{image} < {needed}");
    // The final stage copies the binary and nothing else from the build.
    let final_stage = docker.rsplit("\nFROM ").next().unwrap();
    let copies: Vec<&str> = final_stage
        .lines()
        .filter(|l| l.starts_with("COPY"))
        .collect();
    assert_eq!(
        copies,
        ["COPY --from=build /usr/local/bin/hutong /usr/local/bin/hutong"]
    );
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}
