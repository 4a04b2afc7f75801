//! A bounds pre-check of CDR payloads, driven by the type's `ros2msg` schema.
//!
//! hiroz-cdr's generated decoders reserve `Vec::with_capacity(n)` for a
//! sequence length `n` read from the wire (capped only at 100 M elements), so
//! four hostile bytes can ask for gigabytes (found by `fuzz/`). Before handing
//! a payload to them we walk it once by the schema, allocating nothing, and
//! refuse any sequence or string that claims more elements than there are
//! bytes left. The walk follows XCDR1 (what rmw_zenoh and rosbag2 carry):
//! primitives aligned to their size relative to the end of the 4-byte header,
//! lengths as `u32`.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    /// A primitive of this many bytes (also its alignment).
    Prim(usize),
    Str,
    /// Index into [`Schema::msgs`].
    Msg(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    One,
    Fixed(usize),
    Seq,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    ty: Ty,
    shape: Shape,
}

/// A parsed message definition: `msgs[0]` is the root type.
#[derive(Debug)]
pub(crate) struct Schema {
    msgs: Vec<Vec<Field>>,
}

fn prim_size(t: &str) -> Option<usize> {
    Some(match t {
        "bool" | "byte" | "char" | "int8" | "uint8" => 1,
        "int16" | "uint16" => 2,
        "int32" | "uint32" | "float32" => 4,
        "int64" | "uint64" | "float64" => 8,
        _ => return None,
    })
}

impl Schema {
    /// Parses rosbag2's concatenated `ros2msg` text (root, then `MSG: pkg/Name` sections).
    pub(crate) fn parse(root_name: &str, text: &str) -> Result<Self, String> {
        let mut sections: Vec<(String, Vec<&str>)> = vec![(root_name.replace("/msg/", "/"), Vec::new())];
        for line in text.lines() {
            if line.starts_with("====") {
                sections.push((String::new(), Vec::new()));
            } else if let Some(name) = line.strip_prefix("MSG: ").filter(|_| sections.len() > 1) {
                let s = sections.last_mut().ok_or("no section")?;
                s.0 = name.trim().to_string();
            } else if let Some(s) = sections.last_mut() {
                s.1.push(line);
            }
        }
        let index: HashMap<&str, usize> = sections.iter().enumerate().map(|(i, s)| (s.0.as_str(), i)).collect();
        let mut msgs = Vec::with_capacity(sections.len());
        for (name, lines) in &sections {
            let pkg = name.split('/').next().unwrap_or_default();
            let mut fields = Vec::new();
            for line in lines {
                let line = line.split('#').next().unwrap_or_default().trim();
                let mut tok = line.split_whitespace();
                let (Some(ty), Some(fname)) = (tok.next(), tok.next()) else { continue };
                if fname.contains('=') || tok.next().is_some_and(|t| t.starts_with('=')) {
                    continue; // a constant
                }
                let (base, shape) = match ty.split_once('[') {
                    None => (ty, Shape::One),
                    Some((b, rest)) => {
                        let n = rest.trim_end_matches(']');
                        if n.is_empty() || n.starts_with("<=") {
                            (b, Shape::Seq)
                        } else {
                            (b, Shape::Fixed(n.parse().map_err(|_| format!("bad array size in `{line}`"))?))
                        }
                    }
                };
                let base = base.split("<=").next().unwrap_or(base);
                let ty = if let Some(s) = prim_size(base) {
                    Ty::Prim(s)
                } else if base == "string" || base == "wstring" {
                    Ty::Str
                } else {
                    let full = match base {
                        "Header" => "std_msgs/Header".to_string(),
                        b if b.contains('/') => b.to_string(),
                        b => format!("{pkg}/{b}"),
                    };
                    Ty::Msg(*index.get(full.as_str()).ok_or_else(|| format!("{name}: no definition of `{full}`"))?)
                };
                fields.push(Field { ty, shape });
            }
            msgs.push(fields);
        }
        Ok(Self { msgs })
    }

    /// Fewest bytes one value of `ty` can take on the wire (alignment ignored).
    fn min_size(&self, ty: Ty, depth: usize) -> usize {
        match ty {
            Ty::Prim(s) => s,
            Ty::Str => 4,
            Ty::Msg(_) if depth > 32 => 1,
            Ty::Msg(i) => self.msgs[i]
                .iter()
                .map(|f| match f.shape {
                    Shape::One => self.min_size(f.ty, depth + 1),
                    Shape::Fixed(n) => n * self.min_size(f.ty, depth + 1),
                    Shape::Seq => 4,
                })
                .sum::<usize>()
                .max(1),
        }
    }

    /// Checks a CDR body (after the 4-byte header) against the schema.
    pub(crate) fn check(&self, body: &[u8]) -> Result<(), String> {
        let mut w = Walker { body, pos: 0 };
        self.walk(&mut w, 0, 0)
    }

    fn walk(&self, w: &mut Walker<'_>, msg: usize, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err("message nesting deeper than 32".into());
        }
        for f in &self.msgs[msg] {
            match f.shape {
                Shape::One => self.value(w, f.ty, depth)?,
                Shape::Fixed(n) => self.values(w, f.ty, n, depth)?,
                Shape::Seq => {
                    let n = w.u32()? as usize;
                    let need = n.saturating_mul(self.min_size(f.ty, depth));
                    if need > w.left() {
                        return Err(format!("sequence of {n} elements needs at least {need} bytes, {} left", w.left()));
                    }
                    self.values(w, f.ty, n, depth)?;
                }
            }
        }
        Ok(())
    }

    fn values(&self, w: &mut Walker<'_>, ty: Ty, n: usize, depth: usize) -> Result<(), String> {
        match ty {
            Ty::Prim(s) if n > 0 => {
                w.align(s);
                w.skip(n.saturating_mul(s))
            }
            Ty::Prim(_) => Ok(()),
            _ => (0..n).try_for_each(|_| self.value(w, ty, depth)),
        }
    }

    fn value(&self, w: &mut Walker<'_>, ty: Ty, depth: usize) -> Result<(), String> {
        match ty {
            Ty::Prim(s) => {
                w.align(s);
                w.skip(s)
            }
            Ty::Str => {
                let n = w.u32()? as usize;
                w.skip(n)
            }
            Ty::Msg(i) => self.walk(w, i, depth + 1),
        }
    }
}

struct Walker<'a> {
    body: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn left(&self) -> usize {
        self.body.len().saturating_sub(self.pos)
    }
    fn align(&mut self, a: usize) {
        self.pos = self.pos.next_multiple_of(a);
    }
    fn skip(&mut self, n: usize) -> Result<(), String> {
        if n > self.left() {
            return Err(format!("needs {n} more bytes at offset {}, {} left", self.pos, self.left()));
        }
        self.pos += n;
        Ok(())
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.align(4);
        let start = self.pos;
        self.skip(4)?;
        let b = &self.body[start..start + 4];
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The parsed schema of a registered type, built once for all of them.
pub(crate) fn schema_for(ros_name: &str) -> Option<&'static Schema> {
    static SCHEMAS: OnceLock<HashMap<&'static str, Schema>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            crate::registry()
                .iter()
                .filter_map(|e| Schema::parse(e.ros_name, e.schema).ok().map(|s| (e.ros_name, s)))
                .collect()
        })
        .get(ros_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_schema_parses() {
        for e in crate::registry() {
            Schema::parse(e.ros_name, e.schema).unwrap_or_else(|err| panic!("{}: {err}", e.ros_name));
        }
    }

    #[test]
    fn the_fuzzer_input_is_refused_before_any_allocation() {
        let s = schema_for("std_msgs/msg/Float64MultiArray").unwrap();
        let err = s.check(&[0, 0, 0, 4]).unwrap_err();
        assert!(err.contains("67108864 elements"), "{err}");
    }
}
