//! Offscreen camera: MuJoCo renders on its own thread through Mesa's EGL device
//! (CPU, no display). The physics thread hands over a copy of the visual state
//! (`mjv_copyData`) and keeps stepping; frames come back on a channel.

use crate::error::{Result, SimError};
use crate::sim::Sim;
use mujoco_rs::prelude::*;
use mujoco_rs::renderer::MjRenderer;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

/// One rgb8 image, row-major, top row first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Simulated time of the state it shows.
    pub time: f64,
    pub rgb: Vec<u8>,
}

struct Job {
    data: MjData<Box<MjModel>>,
    frame: Frame,
}

type Reply = std::result::Result<Job, (Job, String)>;

/// A render thread with a small pool of state copies (at most `POOL` frames in flight).
pub struct Camera {
    width: u32,
    height: u32,
    camera_id: usize,
    pool: Vec<Job>,
    tx: Option<SyncSender<Job>>,
    rx: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
    in_flight: usize,
    dropped: u64,
}

const POOL: usize = 2;

impl Camera {
    /// Starts the render thread for `sim`'s fixed camera at `width`×`height`
    /// (up to 640×480, the model's offscreen buffer). Fails with a clear error when
    /// no EGL device can be opened.
    pub fn new(sim: &Sim, width: u32, height: u32) -> Result<Self> {
        if width == 0 || height == 0 || width > 640 || height > 480 {
            return Err(SimError::Config(format!(
                "camera size {width}x{height} must be within 1x1..640x480"
            )));
        }
        let camera_id = sim.camera_id();
        let model = sim.mj_data().model().clone();
        let (tx, job_rx) = sync_channel::<Job>(POOL);
        let (reply_tx, rx) = sync_channel::<Reply>(POOL);
        let (ready_tx, ready_rx) = sync_channel::<std::result::Result<(), String>>(1);
        let thread = std::thread::Builder::new()
            .name("kotoba-sim-render".into())
            .spawn(move || {
                let built = MjRenderer::builder()
                    .width(width)
                    .height(height)
                    .camera(MjvCamera::new_fixed(camera_id))
                    .build(&model);
                let mut renderer = match built {
                    Ok(r) => {
                        let _ = ready_tx.send(Ok(()));
                        r
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot create an offscreen EGL renderer ({e:?}); install libegl1 libegl-mesa0 libgl1-mesa-dri (scripts/setup_mujoco.sh)")));
                        return;
                    }
                };
                drop(model);
                while let Ok(mut job) = job_rx.recv() {
                    let r = renderer.sync_data(&mut job.data).and_then(|_| renderer.render());
                    let reply = match r {
                        Ok(()) => {
                            job.frame.rgb.clear();
                            job.frame.rgb.extend_from_slice(renderer.rgb_flat().unwrap_or(&[]));
                            Ok(job)
                        }
                        Err(e) => Err((job, format!("{e:?}"))),
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| SimError::Render(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| SimError::Render("render thread exited".into()))?
            .map_err(SimError::Render)?;
        let mut cam = Self {
            width,
            height,
            camera_id,
            pool: Vec::new(),
            tx: Some(tx),
            rx,
            thread: Some(thread),
            in_flight: 0,
            dropped: 0,
        };
        cam.refill(sim)?;
        Ok(cam)
    }

    fn refill(&mut self, sim: &Sim) -> Result<()> {
        self.pool.clear();
        for _ in 0..POOL.saturating_sub(self.in_flight) {
            let model = sim.mj_data().model().clone();
            let n = (self.width * self.height * 3) as usize;
            let frame = Frame {
                width: self.width,
                height: self.height,
                time: 0.0,
                rgb: Vec::with_capacity(n),
            };
            self.pool.push(Job {
                data: MjData::new(Box::new(model)),
                frame,
            });
        }
        Ok(())
    }

    /// Hands the current state to the render thread. Returns false (and counts a dropped
    /// frame) when all state copies are still in flight. Never blocks.
    pub fn request(&mut self, sim: &Sim) -> Result<bool> {
        if self.camera_id != sim.camera_id() {
            return Err(SimError::Render(
                "the camera was created for another scene".into(),
            ));
        }
        let Some(mut job) = self.pool.pop() else {
            self.dropped += 1;
            return Ok(false);
        };
        if sim.mj_data().copy_visual_to(&mut job.data).is_err() {
            // New episode, new model: rebuild the state copies.
            self.refill(sim)?;
            job = self
                .pool
                .pop()
                .ok_or_else(|| SimError::Render("no state copy".into()))?;
            sim.mj_data()
                .copy_visual_to(&mut job.data)
                .map_err(|e| SimError::Render(e.to_string()))?;
        }
        job.frame.time = sim.time();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| SimError::Render("camera closed".into()))?;
        tx.send(job)
            .map_err(|_| SimError::Render("render thread exited".into()))?;
        self.in_flight += 1;
        Ok(true)
    }

    fn take(&mut self, reply: Reply) -> Result<Frame> {
        self.in_flight -= 1;
        let (job, err) = match reply {
            Ok(job) => (job, None),
            Err((job, e)) => (job, Some(e)),
        };
        let frame = job.frame.clone();
        self.pool.push(job);
        match err {
            None => Ok(frame),
            Some(e) => Err(SimError::Render(e)),
        }
    }

    /// A finished frame, if one is ready. Never blocks.
    pub fn try_frame(&mut self) -> Result<Option<Frame>> {
        match self.rx.try_recv() {
            Ok(r) => self.take(r).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(SimError::Render("render thread exited".into())),
        }
    }

    /// Waits for the next frame (lockstep use: request, then wait).
    pub fn wait_frame(&mut self) -> Result<Frame> {
        if self.in_flight == 0 {
            return Err(SimError::Render("no frame was requested".into()));
        }
        let r = self
            .rx
            .recv()
            .map_err(|_| SimError::Render("render thread exited".into()))?;
        self.take(r)
    }

    /// Renders the current state and waits for it.
    pub fn capture(&mut self, sim: &Sim) -> Result<Frame> {
        while self.in_flight > 0 {
            self.wait_frame()?;
        }
        self.request(sim)?;
        self.wait_frame()
    }

    /// Frames skipped because the render thread was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.tx = None;
        while self.in_flight > 0 && self.rx.recv().is_ok() {
            self.in_flight -= 1;
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
