//! Partitions on real links, between hosts in network namespaces.

use crate::harness::*;

/// A network lab from `../shared/tools/netlab`-style namespaces: one host
/// per node, joined by a bridge, with links the test cuts and heals. The
/// test process reaches every host through an address of its own on the
/// bridge. Torn down on drop.
pub(crate) struct Lab {
    prefix: String,
    net: String,
}

impl Lab {
    /// `None` (with the reason) where namespaces cannot be made: not root,
    /// no `ip`, or a sandbox without CAP_NET_ADMIN.
    pub(crate) fn up(hosts: usize) -> Result<Lab, String> {
        if std::env::var_os("HUTONG_SKIP_NETLAB").is_some() {
            return Err("HUTONG_SKIP_NETLAB is set".into());
        }
        let pid = std::process::id();
        let lab = Lab {
            prefix: format!("ht{}", pid % 100_000),
            net: format!("10.213.{}", pid % 250),
        };
        let netlab = lab.netlab_path();
        if !netlab.exists() {
            return Err(format!("{} not found", netlab.display()));
        }
        let out = lab.run(&["up", &(hosts - 1).to_string()])?;
        let _ = out;
        // The test's own address on the bridge.
        let bridge = format!("{}-br", lab.prefix);
        let me = format!("{}.254/24", lab.net);
        let status = Command::new("ip")
            .args(["addr", "add", &me, "dev", &bridge])
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("cannot give the bridge {bridge} an address"));
        }
        Ok(lab)
    }

    fn netlab_path(&self) -> PathBuf {
        match std::env::var_os("HUTONG_NETLAB") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/netlab"),
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("bash")
            .arg(self.netlab_path())
            .args(args)
            .env("NETLAB_PREFIX", &self.prefix)
            .env("NETLAB_NET", &self.net)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "netlab {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn must(&self, args: &[&str]) {
        // `netlab heal` with no hosts exits 1 after healing everything (its
        // loop ends on the skipped i == j pair): not a failure.
        if args == ["heal"] {
            let _ = self.run(args);
            return;
        }
        self.run(args).unwrap();
    }

    pub(crate) fn addr(&self, host: usize) -> String {
        format!("{}.{}", self.net, host + 1)
    }

    pub(crate) fn netns(&self, host: usize) -> String {
        format!("{}-h{host}", self.prefix)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

/// Moves every node of `cluster` onto its own lab host (node i on host i):
/// p2p, RPC and metrics listen on the host's address, peers are dialled
/// there, and the test reaches RPC through the bridge.
pub(crate) fn move_into(cluster: &mut Cluster, lab: &Lab) {
    let port = |listen: &str| listen.rsplit(['/', ':']).next().unwrap().to_string();
    let mut p2p_ports = Vec::new();
    for n in &cluster.nodes {
        p2p_ports.push(port(&first_p2p_addr(&n.home)));
    }
    for (i, n) in cluster.nodes.iter_mut().enumerate() {
        let path = n.home.join("config.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (j, p) in p2p_ports.iter().enumerate() {
            text = text.replace(
                &format!("/ip4/127.0.0.1/tcp/{p}"),
                &format!("/ip4/{}/tcp/{p}", lab.addr(j)),
            );
        }
        // RPC and metrics: `127.0.0.1:port` → the host's address.
        text = text.replace("\"127.0.0.1:", &format!("\"{}:", lab.addr(i)));
        std::fs::write(&path, text).unwrap();
        n.rpc = n.rpc.replace("127.0.0.1", &lab.addr(i));
        n.netns = Some(lab.netns(i));
    }
}

/// The highest height every node in `nodes` has reached.
pub(crate) async fn common_height(cluster: &Cluster, nodes: &[usize]) -> u64 {
    let mut h = u64::MAX;
    for &i in nodes {
        h = h.min(cluster.height(i).await.unwrap_or(0));
    }
    h
}

/// Partitions on real links (network namespaces, as root): isolating a
/// validator, a 2–2 split, one-way loss and a flapping link. Safety always
/// (every node agrees on every block it has); progress whenever three
/// validators can talk; recovery by itself after healing.
#[test]
fn partitions_keep_safety_and_heal_by_themselves() {
    let _one = exclusive();
    let lab = match Lab::up(5) {
        Ok(lab) => lab,
        // .ci/run found namespaces usable: a failure here is a failure.
        Err(why) if std::env::var_os("HUTONG_NETLAB").is_some() => {
            panic!("the network lab could not be made: {why}")
        }
        Err(why) => return skipped("partitions_keep_safety_and_heal_by_themselves", &why),
    };
    let mut cluster = Cluster::new();
    move_into(&mut cluster, &lab);
    for i in 0..5 {
        cluster.start(i);
    }
    let all = [0, 1, 2, 3, 4];
    runtime().block_on(async {
        cluster.wait_height(0, 3, Duration::from_secs(60)).await;

        // Isolate validator 0: the other three go on without it.
        lab.must(&["isolate", "0"]);
        let h = cluster.height(1).await.unwrap();
        cluster.wait_height(1, h + 5, Duration::from_secs(60)).await;
        cluster.wait_height(2, h + 5, Duration::from_secs(60)).await;
        lab.must(&["heal"]);
        let h = cluster.height(1).await.unwrap();
        cluster.wait_height(0, h, Duration::from_secs(60)).await;
        cluster.assert_agree(&all, h).await;

        // A 2–2 split of the validators (the regulator still sees both
        // halves): no quorum on either side, so no progress and no fork.
        for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
            lab.must(&["cut", &a.to_string(), &b.to_string()]);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let split = common_height(&cluster, &[0, 1, 2, 3]).await;
        let top = {
            let mut t = 0;
            for i in 0..4 {
                t = t.max(cluster.height(i).await.unwrap());
            }
            t
        };
        tokio::time::sleep(Duration::from_secs(8)).await;
        let mut after = 0;
        for i in 0..4 {
            after = after.max(cluster.height(i).await.unwrap());
        }
        assert!(
            after <= top + 1,
            "committed without a quorum: {top} -> {after}"
        );
        cluster.assert_agree(&all, split).await;
        lab.must(&["heal"]);
        let h = cluster
            .wait_height(0, after + 5, Duration::from_secs(60))
            .await;
        cluster.assert_agree(&all, h).await;

        // One-way loss: 0 cannot reach 1 (so their link is dead both
        // ways for TCP); every other link works, so the chain goes on.
        lab.must(&["cut1", "0", "1"]);
        let h = cluster.height(2).await.unwrap();
        cluster.wait_height(2, h + 5, Duration::from_secs(60)).await;
        lab.must(&["heal"]);

        // A link that flaps every 700 ms for ten seconds.
        let h = cluster.height(2).await.unwrap();
        for k in 0..14 {
            lab.must(&[if k % 2 == 0 { "cut" } else { "heal" }, "2", "3"]);
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        lab.must(&["heal"]);
        let end = cluster.wait_height(0, h + 5, Duration::from_secs(60)).await;
        let end = cluster.wait_height(3, end, Duration::from_secs(60)).await;
        cluster.assert_agree(&all, end).await;
        // Every height agrees, not just the last.
        for height in (1..=end).step_by(7) {
            cluster.assert_agree(&all, height).await;
        }
    });
    drop(cluster);
    drop(lab);
}
