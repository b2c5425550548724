//! The `hutong` binary, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

fn hutong(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(args)
        .output()
        .expect("the hutong binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure is one line on stderr, starting with `error:`, and exit 1.
fn assert_clean_failure(o: &Output, mentions: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains(mentions),
        "{err:?} does not mention {mentions:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn keys_new_show_and_refuse_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.key");
    let p = path.to_str().unwrap();
    let o = hutong(&["keys", "new", "--out", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let show = hutong(&["keys", "show", p]);
    assert!(show.status.success());
    let text = stdout(&show);
    assert!(text.contains("address:    ht1"), "{text}");
    assert!(text.contains("peer id:    12D3KooW"), "{text}");
    // The public key printed at creation is the one shown later.
    let created = stdout(&o);
    let public = text.lines().next().unwrap();
    assert!(created.contains(public), "{created} vs {public}");

    let before = std::fs::read(&path).unwrap();
    let again = hutong(&["keys", "new", "--out", p]);
    assert_clean_failure(&again, "refusing to overwrite");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the key file changed"
    );
}

#[test]
fn bad_key_files_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.key");
    assert_clean_failure(
        &hutong(&["keys", "show", missing.to_str().unwrap()]),
        "nope.key",
    );

    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "this is not toml [").unwrap();
    assert_clean_failure(
        &hutong(&["keys", "show", garbage.to_str().unwrap()]),
        "not a Hutong key file",
    );

    let huge = dir.path().join("huge.key");
    std::fs::write(&huge, vec![b'#'; 100_000]).unwrap();
    assert_clean_failure(
        &hutong(&["keys", "show", huge.to_str().unwrap()]),
        "at most 4096",
    );

    // A public key that does not match the secret is caught.
    let mismatched = dir.path().join("mismatch.key");
    std::fs::write(
        &mismatched,
        format!(
            "kind = \"hutong-ed25519-secret-key\"\npublic_key = \"{}\"\nsecret_key = \"{}\"\n",
            hutong_runtime::Keypair::from_secret_bytes(&[1; 32]).public(),
            "02".repeat(32)
        ),
    )
    .unwrap();
    assert_clean_failure(
        &hutong(&["keys", "show", mismatched.to_str().unwrap()]),
        "does not belong",
    );
}

#[test]
fn genesis_new_validate_hash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("consortium");
    let o = hutong(&[
        "genesis",
        "new",
        "--out",
        out.to_str().unwrap(),
        "--accounts",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let genesis = out.join("genesis.toml");
    let g = genesis.to_str().unwrap();
    // 4 validators x 3 keys (institution, node, memo seed), a regulator x
    // 3 (its key, its node's, its identity seed), 3 accounts.
    assert_eq!(std::fs::read_dir(out.join("keys")).unwrap().count(), 18);
    assert!(Path::new(&out.join("keys/bank-a.node.key")).exists());
    assert!(Path::new(&out.join("keys/bank-a.memo.key")).exists());
    assert!(Path::new(&out.join("keys/regulator.identity.key")).exists());

    let v = hutong(&["genesis", "validate", g]);
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(stdout(&v).contains("4 validators"), "{}", stdout(&v));
    let h = hutong(&["genesis", "hash", g]);
    let id = stdout(&h).trim().to_string();
    assert_eq!(id.len(), 64);
    assert!(
        stdout(&o).contains(&id),
        "genesis new and genesis hash disagree"
    );
    assert!(stdout(&v).contains(&id));

    // A second `genesis new` into the same folder is refused.
    let again = hutong(&["genesis", "new", "--out", out.to_str().unwrap()]);
    assert_clean_failure(&again, "not empty");

    // A broken genesis names the field.
    let text = std::fs::read_to_string(&genesis).unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        text.replacen("issuer = \"bank-a\"", "issuer = \"bank-z\"", 1),
    )
    .unwrap();
    assert_clean_failure(
        &hutong(&["genesis", "validate", broken.to_str().unwrap()]),
        "assets[0].issuer",
    );
    std::fs::write(
        &broken,
        text.replacen("utc_offset = \"+08:00\"", "utc_offset = \"CST\"", 1),
    )
    .unwrap();
    assert_clean_failure(
        &hutong(&["genesis", "hash", broken.to_str().unwrap()]),
        "utc_offset",
    );
    assert_clean_failure(
        &hutong(&["genesis", "validate", "/nonexistent/genesis.toml"]),
        "cannot read genesis file",
    );
}

#[test]
fn genesis_new_rejects_non_bft_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    assert_clean_failure(
        &hutong(&[
            "genesis",
            "new",
            "--out",
            out.to_str().unwrap(),
            "--validators",
            "3",
        ]),
        "at least 4",
    );
    assert!(!out.join("genesis.toml").exists());
    let dev = hutong(&[
        "genesis",
        "new",
        "--out",
        out.to_str().unwrap(),
        "--validators",
        "1",
    ]);
    assert!(dev.status.success(), "{}", stderr(&dev));
    let v = hutong(&[
        "genesis",
        "validate",
        out.join("genesis.toml").to_str().unwrap(),
    ]);
    assert!(stdout(&v).contains("development chain"), "{}", stdout(&v));
}

#[test]
fn demo_runs_and_conserves_supply() {
    let o = hutong(&[
        "demo",
        "--blocks",
        "3",
        "--transfers",
        "200",
        "--accounts",
        "50",
        "--seed",
        "11",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("seed 11"), "{text}");
    for code in [
        "single_limit_exceeded",
        "step_up_required",
        "exists",
        "recipient_frozen",
        "insufficient_balance",
        "unauthorised",
        "bad_signature",
    ] {
        assert!(text.contains(code), "demo output lacks {code}:\n{text}");
    }
    assert_eq!(
        text.matches("unchanged by transfers: yes").count(),
        2,
        "{text}"
    );
    // The same seed gives the same chain.
    let again = hutong(&[
        "demo",
        "--blocks",
        "3",
        "--transfers",
        "200",
        "--accounts",
        "50",
        "--seed",
        "11",
    ]);
    let roots = |t: &str| {
        t.lines()
            .filter(|l| l.contains("state root"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The genesis root and one per block.
    assert_eq!(roots(&text).len(), 4, "{text}");
    assert_eq!(roots(&text), roots(&stdout(&again)));
}

/// A reader that stops early (`hutong demo | head -1`) ends the command
/// quietly: no panic about a broken pipe, status 0.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hutong"))
        // ~280 KB of output: more than a pipe holds, so the demo is
        // still writing when the reader goes away.
        .args([
            "demo",
            "--blocks",
            "2000",
            "--transfers",
            "10",
            "--seed",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hutong binary runs");
    // Read one byte, then close our end of the pipe, like `head -c 1`.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; 1];
    out.read_exact(&mut first)
        .expect("the demo prints something");
    drop(out);
    let o = child.wait_with_output().expect("the demo ends");
    let err = stderr(&o);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
}
