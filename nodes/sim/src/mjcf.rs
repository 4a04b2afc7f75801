//! MJCF generation: the robot from its URDF (bodies, joints, inertias, geoms, limits),
//! actuators for the position and effort interfaces, and the scene (plane table, flex
//! towel, lights, camera). Generated rather than imported so the URDF stays the single
//! source of truth and the towel/actuators can be set per episode.

use crate::config::SimConfig;
use crate::episode::EpisodeParams;
use crate::robot::{RobotModel, pose_iso};
use std::fmt::Write;

/// Actuator groups: the sim switches interfaces by disabling a group (`opt.disableactuator`).
pub const GROUP_POSITION: i32 = 1;
pub const GROUP_EFFORT: i32 = 2;
/// Body that grasp-assist equalities attach cloth vertices to.
pub const PALM_BODY: &str = "gripper_base";
pub const TOWEL: &str = "towel";
pub const CAMERA: &str = "front";

fn v3(v: [f64; 3]) -> String {
    format!("{} {} {}", v[0], v[1], v[2])
}

fn quat(q: &nalgebra::UnitQuaternion<f64>) -> String {
    format!("{} {} {} {}", q.w, q.i, q.j, q.k)
}

fn geom(
    out: &mut String,
    class: &str,
    name: Option<&str>,
    origin: &urdf_rs::Pose,
    g: &urdf_rs::Geometry,
) {
    let iso = pose_iso(origin);
    let (ty, size) = match g {
        urdf_rs::Geometry::Box { size } => ("box", v3(size.0.map(|s| s / 2.0))),
        urdf_rs::Geometry::Cylinder { radius, length } => {
            ("cylinder", format!("{radius} {}", length / 2.0))
        }
        urdf_rs::Geometry::Capsule { radius, length } => {
            ("capsule", format!("{radius} {}", length / 2.0))
        }
        urdf_rs::Geometry::Sphere { radius } => ("sphere", format!("{radius}")),
        // Meshes would need asset files; the shipped arm has none.
        urdf_rs::Geometry::Mesh { .. } => return,
    };
    let name = name.map(|n| format!(" name=\"{n}\"")).unwrap_or_default();
    let _ = writeln!(
        out,
        "<geom{name} class=\"{class}\" type=\"{ty}\" size=\"{size}\" pos=\"{}\" quat=\"{}\"/>",
        v3(iso.translation.vector.into()),
        quat(&iso.rotation)
    );
}

fn body(out: &mut String, robot: &RobotModel, link: &str, cfg: &SimConfig) {
    let l = robot
        .urdf
        .links
        .iter()
        .find(|l| l.name == link)
        .expect("link exists");
    let i = &l.inertial;
    if i.mass.value > 0.0 {
        let p = pose_iso(&i.origin);
        let t = &i.inertia;
        // MJCF takes no frame rotation with fullinertia: rotate the tensor instead.
        let m = nalgebra::Matrix3::new(
            t.ixx, t.ixy, t.ixz, t.ixy, t.iyy, t.iyz, t.ixz, t.iyz, t.izz,
        );
        let r = p.rotation.to_rotation_matrix();
        let w = r.matrix() * m * r.matrix().transpose();
        let _ = writeln!(
            out,
            "<inertial pos=\"{}\" mass=\"{}\" fullinertia=\"{} {} {} {} {} {}\"/>",
            v3(p.translation.vector.into()),
            i.mass.value,
            w[(0, 0)],
            w[(1, 1)],
            w[(2, 2)],
            w[(0, 1)],
            w[(0, 2)],
            w[(1, 2)]
        );
    }
    let is_finger = link.contains("finger");
    for v in &l.visual {
        geom(
            out,
            if is_finger { "finger_visual" } else { "visual" },
            None,
            &v.origin,
            &v.geometry,
        );
    }
    for (k, c) in l.collision.iter().enumerate() {
        let name = format!("{link}_col{k}");
        geom(
            out,
            if is_finger { "pad" } else { "collision" },
            Some(&name),
            &c.origin,
            &c.geometry,
        );
    }
    for j in robot.urdf.joints.iter().filter(|j| j.parent.link == link) {
        let o = pose_iso(&j.origin);
        let _ = writeln!(
            out,
            "<body name=\"{}\" pos=\"{}\" quat=\"{}\">",
            j.child.link,
            v3(o.translation.vector.into()),
            quat(&o.rotation)
        );
        let ty = match j.joint_type {
            urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => Some("hinge"),
            urdf_rs::JointType::Prismatic => Some("slide"),
            _ => None,
        };
        if let Some(ty) = ty {
            let d = j.dynamics.as_ref();
            let armature = if ty == "hinge" { cfg.armature } else { 0.0 };
            let _ = writeln!(
                out,
                "<joint name=\"{}\" type=\"{ty}\" axis=\"{}\" range=\"{} {}\" actuatorfrcrange=\"{} {}\" damping=\"{}\" frictionloss=\"{}\" armature=\"{armature}\"/>",
                j.name,
                v3(j.axis.xyz.0),
                j.limit.lower,
                j.limit.upper,
                -j.limit.effort,
                j.limit.effort,
                d.map_or(0.0, |d| d.damping),
                d.map_or(0.0, |d| d.friction),
            );
        }
        if j.child.link == robot.tcp_link {
            let _ = writeln!(out, "<site name=\"tcp\" size=\"0.005\" rgba=\"1 0 0 0\"/>");
        }
        body(out, robot, &j.child.link, cfg);
        let _ = writeln!(out, "</body>");
    }
}

/// The full scene for one episode.
pub fn scene_xml(robot: &RobotModel, cfg: &SimConfig, ep: &EpisodeParams) -> String {
    let t = &cfg.towel;
    let n = t.count;
    let spacing = ep.towel_size / (n - 1) as f64;
    let cam = &cfg.camera;
    let (cw, ch) = (cam.width.max(640), cam.height.max(480));
    let root = root_link(robot);
    let mut x = String::with_capacity(64 * 1024);
    let _ = write!(
        x,
        r#"<mujoco model="kotoba_towel">
<compiler angle="radian" autolimits="true"/>
<option timestep="{dt}" integrator="implicitfast" solver="CG" tolerance="1e-6" iterations="100">
  <flag sleep="enable"/>
</option>
<visual>
  <global offwidth="{cw}" offheight="{ch}"/>
  <quality shadowsize="0" offsamples="0"/>
  <headlight ambient="{amb} {amb} {amb}" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
</visual>
<default>
  <default class="arm">
    <geom contype="4" conaffinity="1" condim="3" friction="0.8"/>
    <default class="visual"><geom contype="0" conaffinity="0" group="2" rgba="0.55 0.6 0.65 1"/></default>
    <default class="finger_visual"><geom contype="0" conaffinity="0" group="2" rgba="0.15 0.15 0.15 1"/></default>
    <default class="collision"><geom group="3" rgba="0.5 0.5 0.5 0.3"/></default>
    <default class="pad"><geom group="3" contype="4" conaffinity="{pad_aff}" condim="4" friction="1" priority="1" solref="0.004 1"/></default>
  </default>
</default>
<worldbody>
  <light name="key" directional="true" castshadow="false" pos="0 0 2" dir="{ld}" diffuse="{li} {li} {li}" specular="0.1 0.1 0.1"/>
  <geom name="table" type="plane" size="1.5 1.5 0.1" contype="1" conaffinity="0" condim="3" friction="0.8" rgba="{tc}"/>
  <camera name="{CAMERA}" mode="fixed" pos="{cp}" xyaxes="{cxy}" fovy="{fovy}"/>
<body name="{root}" childclass="arm" pos="{rp}" quat="{rq}">
"#,
        dt = cfg.timestep,
        pad_aff = 1,
        amb = ep.ambient,
        ld = v3(ep.light_dir),
        li = ep.light_diffuse,
        tc = format_args!(
            "{} {} {} 1",
            ep.table_rgb[0], ep.table_rgb[1], ep.table_rgb[2]
        ),
        cp = v3(cam.pos),
        cxy = look_at(cam.pos, cam.target),
        fovy = cam.fovy,
        root = root.0,
        rp = v3(root.1.translation.vector.into()),
        rq = quat(&root.1.rotation),
    );
    body(&mut x, robot, root.0, cfg);
    let _ = write!(
        x,
        r#"</body>
  <flexcomp name="{TOWEL}" type="grid" dim="2" count="{n} {n} 1" spacing="{spacing} {spacing} {spacing}"
            pos="{px} {py} {pz}" euler="0 0 {yaw}" radius="{r}" mass="{m}" rgba="{c0} {c1} {c2} 1">
    <edge equality="true" damping="{ed}"/>
    <contact selfcollide="auto" condim="1" solref="0.01 1" contype="2" conaffinity="3"/>
  </flexcomp>
</worldbody>
<equality>
"#,
        px = ep.towel_pos[0],
        py = ep.towel_pos[1],
        pz = t.radius + 0.0005,
        yaw = ep.towel_yaw,
        r = t.radius,
        m = t.mass,
        c0 = ep.towel_rgb[0],
        c1 = ep.towel_rgb[1],
        c2 = ep.towel_rgb[2],
        ed = t.edge_damping,
    );
    for (name, mult, off) in &robot.mimics {
        let _ = writeln!(
            x,
            "  <joint joint1=\"{name}\" joint2=\"{}\" polycoef=\"{off} {mult} 0 0 0\"/>",
            robot.gripper.name
        );
    }
    for k in 0..n * n {
        let _ = writeln!(
            x,
            "  <connect name=\"grasp_{k}\" body1=\"{TOWEL}_{k}\" body2=\"{PALM_BODY}\" anchor=\"0 0 0\" active=\"false\"/>"
        );
    }
    x.push_str("</equality>\n<actuator>\n");
    for (j, g) in robot.arm.iter().zip(&cfg.servo) {
        let _ = writeln!(
            x,
            "  <position name=\"{0}_pos\" joint=\"{0}\" group=\"{GROUP_POSITION}\" kp=\"{1}\" dampratio=\"{2}\" forcerange=\"{3} {4}\"/>",
            j.name, g.kp, g.dampratio, -j.effort, j.effort
        );
    }
    for j in &robot.arm {
        let _ = writeln!(
            x,
            "  <motor name=\"{0}_eff\" joint=\"{0}\" group=\"{GROUP_EFFORT}\" ctrlrange=\"{1} {2}\"/>",
            j.name, -j.effort, j.effort
        );
    }
    let g = &robot.gripper;
    let _ = writeln!(
        x,
        "  <position name=\"{0}_pos\" joint=\"{0}\" kp=\"{1}\" dampratio=\"1\" forcerange=\"{2} {3}\" ctrlrange=\"{4} {5}\"/>",
        g.name, cfg.gripper_kp, -g.effort, g.effort, g.lower, g.upper
    );
    x.push_str("</actuator>\n</mujoco>\n");
    x
}

/// The first link with a body: the URDF root, or the child of an empty `world` link
/// (then with that mount joint's pose).
fn root_link(robot: &RobotModel) -> (&str, nalgebra::Isometry3<f64>) {
    let u = &robot.urdf;
    let root = u
        .links
        .iter()
        .find(|l| !u.joints.iter().any(|j| j.child.link == l.name))
        .map_or("base_link", |l| l.name.as_str());
    if root == "world"
        && let Some(j) = u.joints.iter().find(|j| j.parent.link == "world")
    {
        return (j.child.link.as_str(), pose_iso(&j.origin));
    }
    (root, nalgebra::Isometry3::identity())
}

/// Camera x (right) and y (up) axes for a camera at `pos` looking at `target`.
fn look_at(pos: [f64; 3], target: [f64; 3]) -> String {
    use nalgebra::Vector3;
    let f = (Vector3::from(target) - Vector3::from(pos)).normalize();
    let mut x = f.cross(&Vector3::z());
    if x.norm() < 1e-6 {
        x = Vector3::y(); // looking straight down: image right = world +y
    }
    let x = x.normalize();
    let y = x.cross(&f).normalize();
    format!("{} {} {} {} {} {}", x.x, x.y, x.z, y.x, y.y, y.z)
}
