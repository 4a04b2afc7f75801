//! `kotoba demo --smoke` runs every stage of the pipeline (scripted
//! demonstrations recorded as rosbag2 bags, SARNN training, closed-loop
//! rollouts with the policy and the active-inference controller) and writes its
//! results file, with either recipe. It asserts that the pipeline ran, not a
//! success figure: two epochs on one episode per instruction teach nothing.
#![cfg(feature = "sim")]

mod common;

#[test]
fn smoke_demo_runs_every_stage_and_writes_results() {
    let out = std::env::temp_dir().join(format!("kotoba-demo-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = common::kotoba().args(["demo", "--recipe", "plain", "--smoke", "--first-seed", "5", "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "demo failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    // One demonstration and one rollout per instruction (three instructions).
    assert_eq!(r["recipe"], "plain", "{r}");
    assert!(r["settle"].is_null(), "the plain recipe has no subgoal to settle at: {r}");
    assert_eq!(r["demos"].as_array().unwrap().len(), 3, "{r}");
    assert!(r["demos"].as_array().unwrap().iter().all(|d| d["labels"].as_u64().unwrap() > 0), "labels spoken: {r}");
    assert!(r["demos"].as_array().unwrap().iter().all(|d| d["seed"] == 5), "--first-seed: {r}");
    assert_eq!(r["training"]["epochs"], 2);
    // Then the recurrent core alone on whole episodes, logged in the same run.
    assert_eq!(r["training"]["motor_epochs"], 2);
    let csv = std::fs::read_to_string(out.join("policy/losses.csv")).unwrap();
    assert_eq!(csv.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect::<Vec<_>>(), ["1", "2", "3", "4"], "{csv}");
    assert!(r["training"]["final_train_loss"].as_f64().unwrap().is_finite());
    let rollouts = r["rollouts"].as_array().unwrap();
    assert_eq!(rollouts.len(), 3);
    for ro in rollouts {
        assert!(ro["sim_seconds"].as_f64().unwrap() > 0.5, "{ro}");
        assert!(!ro["labels"].as_array().unwrap().is_empty(), "predicted labels: {ro}");
        assert_eq!(ro["unstable_steps"], 0, "{ro}");
        // Joint changes are predicted, so even a 2-epoch policy proposes targets
        // near the arm's pose that the supervisor accepts and tracks.
        assert!(ro["tracking"].as_f64().unwrap() > 0.2, "{ro}");
    }
    // The checkpoint, its manifest and embeddings, and the recorded rollouts.
    for f in ["policy/best/model.safetensors", "policy/kotoba.json", "policy/embeddings.json", "rollouts/index.json", "demos/index.json", "rollout.rrd"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("rollouts/index.json")).unwrap()).unwrap();
    let eps = idx["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 3);
    assert!(eps[0]["message_counts"]["/policy/joint_targets"].as_u64().unwrap() > 0, "{idx}");
    assert!(stdout.contains("kotoba demo: results"), "{stdout}");

    // The trained policy drives the simulated robot over Zenoh: `kotoba run`
    // against `kotoba sim` through a router, as on a real robot.
    let (_router, ep) = common::router();
    let _sim = common::sim(&ep, &["--duration", "30"]);
    // With the live view streaming to a file from its own thread.
    let live = out.join("live.rrd");
    let o = common::kotoba()
        .args(["run", "--no-rt", "--duration", "4", "--connect", &ep])
        .arg(out.join("policy"))
        .arg("--view-rrd")
        .arg(&live)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let summary = stdout.lines().find(|l| l.starts_with("kotoba run:")).expect("summary line");
    let num = |after: &str| -> u64 {
        summary.split(after).next().unwrap().split_whitespace().last().unwrap().trim_start_matches('(').parse().unwrap()
    };
    assert!(num(" policy ticks") > 0, "{summary}");
    assert!(num(" effort commands published") > 1000, "{summary}");
    assert!(stdout.contains("live view: ") && stdout.contains(" 0 dropped"), "{stdout}");
    // Read back by the rerun-sdk, not by us: the robot, the camera, the joints,
    // the policy's targets and label, the instruction.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let r = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("nodes/replay/tests/read_rrd.py"))
        .arg(&live)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rrd: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let rows = |prefix: &str| -> u64 {
        rrd["entities"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v["rows"].as_u64().unwrap()).sum()
    };
    let ents: Vec<&String> = rrd["entities"].as_object().unwrap().keys().collect();
    for prefix in ["/cameras/", "/joints/", "/robot/", "/language/predicted_label", "/language/instruction"] {
        assert!(rows(prefix) > 0, "{prefix}: {ents:?}");
    }

    // `kotoba eval` from a spec: one seed, two variants, short rollouts.
    let spec = out.join("eval.toml");
    std::fs::write(&spec, "seeds = [7]\nvariants = [\"full\", \"pd\"]\nperturbations = [\"none\", \"payload\"]\nmax_seconds = 1.0\n").unwrap();
    let json = out.join("eval.json");
    let o = common::kotoba().arg("eval").arg(out.join("policy")).arg("--spec").arg(&spec).arg("--json").arg(&json).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(e["summary"].as_array().unwrap().len(), 12, "2 variants x 2 perturbations x 3 instructions: {e}");
    assert_eq!(e["rollouts"].as_array().unwrap().len(), 12);
    assert!(e["rollouts"].as_array().unwrap().iter().any(|r| r["outcome"]["perturbation"] == "payload"), "{e}");

    // The shadow variant: the demonstration drives, the policy's proposals are scored.
    std::fs::write(&spec, "instructions = [\"fold the towel corner to corner\"]\nseeds = [7]\nvariants = [\"shadow\"]\nmax_seconds = 2.0\n").unwrap();
    let o = common::kotoba().arg("eval").arg(out.join("policy")).arg("--spec").arg(&spec).arg("--json").arg(&json).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let s = &e["rollouts"][0]["shadow"];
    assert_eq!(s["steps"], 20, "2 s at 10 Hz: {s}");
    for k in ["policy_rms", "hold_rms", "extrapolate_rms"] {
        let v: Vec<f64> = s[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert!(v.len() == 6 && v.iter().all(|x| x.is_finite() && *x >= 0.0), "{k}: {s}");
    }
    // The demonstration moves the arm in its first two seconds.
    assert!(s["hold_rms"].as_array().unwrap().iter().any(|x| x.as_f64().unwrap() > 0.005), "{s}");

    // Settling at the subgoal needs a subgoal head, which this recipe lacks.
    std::fs::write(&spec, "seeds = [7]\nvariants = [\"no_regression\"]\nmax_seconds = 1.0\nsettle = { tolerance = 0.01 }\n").unwrap();
    let o = common::kotoba().arg("eval").arg(out.join("policy")).arg("--spec").arg(&spec).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("needs a policy with a subgoal head"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}

/// The default recipe: the corner fold recorded through the controller with
/// a drift, a vision with pixel goal points, its subgoal head fitted, then a
/// fresh core pulled towards the subgoal and blind to it.
#[test]
fn smoke_demo_with_the_subgoal_recipe_trains_its_three_stages() {
    let out = std::env::temp_dir().join(format!("kotoba-demo-subgoal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = common::kotoba().args(["demo", "--smoke", "--ensemble", "2", "--first-seed", "6", "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "demo failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["recipe"], "subgoal", "{r}");
    // The recipe grasps and releases at the subgoal once settled (0.01 rad).
    assert!((r["settle"]["tolerance"].as_f64().unwrap() - 0.01).abs() < 1e-6, "{r}");
    assert!(stdout.contains("gripper: moves once the arm is within 0.01 rad of the subgoal"), "{stdout}");
    let demos = r["demos"].as_array().unwrap();
    assert_eq!(demos.len(), 1, "{r}");
    assert_eq!(demos[0]["instruction"], "fold the towel corner to corner", "{r}");
    assert_eq!((r["training"]["epochs"].as_u64(), r["training"]["motor_epochs"].as_u64()), (Some(2), Some(2)), "{r}");
    assert!(r["training"]["final_train_loss"].as_f64().unwrap().is_finite(), "{r}");
    // Each stage left its checkpoint: the vision, the fitted head, the policy.
    let config = |dir: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(dir).join("config.json")).unwrap()).unwrap()
    };
    let vision = config("policy/vision/best");
    assert_eq!(vision["model"]["goal_encoder"], "pixels", "{vision}");
    assert_eq!(vision["model"]["goal_input"], false, "{vision}");
    let fitted = std::fs::read(out.join("policy/vision/fitted/model.safetensors")).unwrap();
    assert_ne!(fitted, std::fs::read(out.join("policy/vision/best/model.safetensors")).unwrap(), "the head was fitted");
    let policy = config("policy/best");
    for key in ["goal_input", "goal_pull", "goal_head", "goal_blind"] {
        assert_eq!(policy["model"][key], true, "{key}: {policy}");
    }
    assert_eq!(policy["model"]["residual_base"], "previous_target", "{policy}");
    // `--ensemble 2`: a second core from another seed, listed in the policy's
    // manifest so that loading the policy runs both.
    assert_eq!(r["training"]["cores"], 2, "{r}");
    let member = config("policy/members/1/best");
    assert_eq!(member["model"]["goal_blind"], true, "{member}");
    assert_ne!(
        std::fs::read(out.join("policy/members/1/best/model.safetensors")).unwrap(),
        std::fs::read(out.join("policy/best/model.safetensors")).unwrap(),
        "another seed"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("policy/kotoba.json")).unwrap()).unwrap();
    assert_eq!(manifest["members"], serde_json::json!(["members/1"]), "{manifest}");
    let stages: Vec<&str> = stderr.lines().filter(|l| l.starts_with(['1', '2', '3']) && l.contains("/3 ")).collect();
    assert_eq!(stages.len(), 4, "vision, head, two cores: {stderr}");
    let rollouts = r["rollouts"].as_array().unwrap();
    assert_eq!(rollouts.len(), 1, "{r}");
    assert!(rollouts[0]["sim_seconds"].as_f64().unwrap() > 0.5, "{r}");
    // Unlike the plain recipe's, this core starts with its pull gate open: two
    // epochs leave its targets most of the way to a rough subgoal, beyond the
    // supervisor's jump limit. Whatever it proposes, the supervisor says why.
    let events = rollouts[0]["supervisor_events"].as_object().unwrap();
    let ticks_not_tracking = rollouts[0]["ticks_not_tracking"].as_u64().unwrap();
    assert!(ticks_not_tracking == 0 || !events.is_empty(), "{r}");
    assert!(out.join("rollout.rrd").exists());

    // A member taught other words is refused by name, whether listed in the
    // manifest or added with `kotoba eval --with`.
    let other = out.join("policy/members/1/kotoba.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&other).unwrap()).unwrap();
    m["instructions"] = serde_json::json!(["fold the towel in half from left to right"]);
    std::fs::write(&other, serde_json::to_vec(&m).unwrap()).unwrap();
    let spec = out.join("spec.toml");
    std::fs::write(&spec, "instructions = [\"fold the towel corner to corner\"]\nseeds = [1000]\nvariants = [\"no_regression\"]\nmax_seconds = 1.0\n").unwrap();
    for with in [false, true] {
        let mut cmd = common::kotoba();
        cmd.args(["eval", "--spec"]).arg(&spec).arg(out.join("policy"));
        if with {
            // The policy alone, its member named on the command line instead.
            let mut alone = manifest.clone();
            alone.as_object_mut().unwrap().remove("members");
            std::fs::write(out.join("policy/kotoba.json"), serde_json::to_vec(&alone).unwrap()).unwrap();
            cmd.arg("--with").arg(out.join("policy/members/1"));
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("members/1 was not trained on the data"), "--with {with}: {err}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The subgoal recipe's core has no error regression: refused before any work.
#[test]
fn subgoal_recipe_refuses_error_regression_up_front() {
    let out = std::env::temp_dir().join("kotoba-demo-regress");
    let o = common::kotoba().args(["demo", "--regression-iters", "5", "--out"]).arg(&out).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no online error regression"), "{err}");
    assert!(!out.join("demos").exists(), "nothing recorded");
}

/// Demonstrations must not use the rollouts' scenes.
#[test]
fn demo_seeds_stay_below_the_rollout_seeds() {
    let o = common::kotoba().args(["demo", "--first-seed", "990", "--demos", "20", "--out"]).arg(std::env::temp_dir().join("kotoba-demo-seeds")).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("reaches the rollout seeds (1000 on)"), "{err}");
}

/// Shaping a drift the recipe does not add is refused, not ignored.
#[test]
fn drift_shape_without_a_drift_is_refused() {
    let out = std::env::temp_dir().join("kotoba-demo-holding");
    let o = common::kotoba().args(["demo", "--recipe", "plain", "--demo-noise-holding", "false", "--out"]).arg(&out).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--demo-noise-holding false shapes a drift"), "{err}");
    assert!(!out.join("demos").exists(), "nothing recorded");
}
