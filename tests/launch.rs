//! `kotoba launch`: nodes start in order with their output prefixed, and the
//! exit of a required node stops the rest (here: a router that would run forever).

mod common;

#[test]
fn required_node_exit_stops_the_others() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ep = format!("tcp/127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("kotoba-launch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("two.toml");
    std::fs::write(
        &file,
        format!(
            "[[node]]\nname = \"router\"\nargs = [\"router\", \"--listen\", \"{ep}\"]\n\n\
             [[node]]\nname = \"list\"\nargs = [\"topic\", \"list\", \"--connect\", \"{ep}\"]\ndelay_s = 1.0\nrequired = true\n"
        ),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let o = common::kotoba().arg("launch").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("launch: started router"), "{err}");
    assert!(err.contains("[router]"), "router output is prefixed: {err}");
    assert!(err.contains("launch: list exited"), "{err}");
    assert!(start.elapsed().as_secs() < 30, "the router was stopped when `list` exited");
    // The router's port is free again: the launcher stopped it.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    std::fs::write(&file, "[[node]]\nname = 1\n").unwrap();
    let o = common::kotoba().arg("launch").arg(&file).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("parsing"));
    let _ = std::fs::remove_dir_all(&dir);
}
