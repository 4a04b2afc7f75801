//! The layout a replay opens with: the robot and the cameras on the left; the
//! joint series, the label lanes (told vs predicted) and the text logs on the
//! right; the time panel on the episode's own clock.

use crate::logger::{TL_EPISODE_TIME, paths, topic_path};
use rerun::blueprint::{
    Blueprint, ContainerLike, Horizontal, Spatial2DView, Spatial3DView, StateTimelineView, TextLogView, TimePanel,
    TimeSeriesView, Vertical,
};

/// kotoba's blueprint for an episode with these camera topics (one 2D view each).
pub fn default_blueprint(cameras: &[String]) -> Blueprint {
    let mut left: Vec<ContainerLike> = vec![Spatial3DView::new("robot").with_origin(paths::ROBOT).into()];
    let cams: Vec<ContainerLike> = cameras
        .iter()
        .map(|c| Spatial2DView::new(c.as_str()).with_origin(topic_path(paths::CAMERAS, c)).into())
        .collect();
    if !cams.is_empty() {
        left.push(Horizontal::new(cams).into());
    }
    let right: Vec<ContainerLike> = vec![
        TimeSeriesView::new("joints: position, command, target").with_origin(paths::JOINTS).into(),
        StateTimelineView::new("labels: told vs predicted").with_origin("language").into(),
        TextLogView::new("instruction, labels, diagnostics")
            .with_contents(["language/**".to_string(), format!("{}/**", paths::DIAGNOSTICS)])
            .into(),
    ];
    Blueprint::new(Horizontal::new([
        Vertical::new(left).into(),
        Vertical::new(right).with_row_shares(vec![3.0, 1.0, 1.5]).into(),
    ]))
    .with_time_panel(TimePanel::new().with_timeline(TL_EPISODE_TIME))
}
