//! The NumPy `.npy` format (version 1.0) for 2-D little-endian f32 arrays, so that
//! embeddings can be opened with `numpy.load`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Errors from reading or writing `.npy` files.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        cause: std::io::Error,
    },
    /// The file is not a 2-D float32 `.npy`.
    #[error("{path} is not a 2-D float32 .npy file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// The file may not be written where asked.
    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),
}

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// Writes a `rows × cols` row-major f32 matrix; the header is padded to 64 bytes as
/// the format asks. Written atomically; an existing file at `path` is never
/// replaced (the format has no room for a mark saying bertcls wrote it), unless it
/// holds exactly this matrix already.
pub fn write_npy(path: &Path, values: &[f32], rows: usize, cols: usize) -> Result<(), NpyError> {
    assert_eq!(
        values.len(),
        rows * cols,
        "matrix size does not match its shape"
    );
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = MAGIC.len() + 2 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(MAGIC.len() + 2 + header.len() + values.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(bytemuck::cast_slice(values));
    Ok(artifacts::write_output_file(
        path,
        artifacts::FileKind::NumpyMatrix,
        &bytes,
    )?)
}

/// Reads a matrix written by [`write_npy`] (or by numpy: `<f4`, C order, 2-D).
/// Returns the values and `(rows, cols)`.
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, (usize, usize)), NpyError> {
    let format = |message: &str| NpyError::Format {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|cause| NpyError::Io {
            path: path.to_owned(),
            cause,
        })?;
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(format("bad magic"));
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(
        bytes
            .get(10..10 + header_len)
            .ok_or_else(|| format("short header"))?,
    )
    .map_err(|_| format("header is not UTF-8"))?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(format("expected descr '<f4' in C order"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| format("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format("bad shape")))
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        return Err(format("not 2-D"));
    };
    let data = &bytes[10 + header_len..];
    if rows.checked_mul(cols).and_then(|n| n.checked_mul(4)) != Some(data.len()) {
        return Err(format("data length does not match the shape (truncated?)"));
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((values, (rows, cols)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_the_header_to_64_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let values = [1.0, -2.5, 3.25, f32::MIN_POSITIVE, 0.0, 7.0];
        write_npy(&path, &values, 2, 3).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((bytes.len() - values.len() * 4) % 64, 0);
        assert_eq!(read_npy(&path).unwrap(), (values.to_vec(), (2, 3)));
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[1.0; 12], 3, 4).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert!(
            read_npy(&path)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
    }
}
