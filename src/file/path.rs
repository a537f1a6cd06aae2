//! Safe resolution of a request path under a root folder: the path is
//! percent-decoded once, checked segment by segment, walked with
//! [`Path::components`], and its canonical form must stay under the root.

use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;

/// Why a request path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PathError {
    /// The path is malformed or tries to leave the root: a client error.
    #[error("path {0}")]
    Invalid(&'static str),
    /// Nothing servable is there (missing, a folder, hidden, or outside the root).
    #[error("not found")]
    NotFound,
}

/// Turns the request's path tail (as actix matched it, still partly
/// percent-encoded) into a relative path that names nothing outside its
/// folder. It does not touch the file system.
pub(crate) fn sanitize(tail: &str) -> Result<PathBuf, PathError> {
    let decoded = percent_decode_str(tail)
        .decode_utf8()
        .map_err(|_| PathError::Invalid("is not UTF-8 once decoded"))?;
    if decoded.contains('\0') {
        return Err(PathError::Invalid("contains a NUL byte"));
    }
    if decoded.contains('\\') {
        return Err(PathError::Invalid("contains a backslash"));
    }
    if decoded.starts_with('/') {
        return Err(PathError::Invalid("is absolute"));
    }
    let mut relative = PathBuf::new();
    for component in Path::new(decoded.as_ref()).components() {
        match component {
            Component::Normal(segment) => push_segment(&mut relative, segment)?,
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::Invalid("contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Invalid("is absolute"));
            }
        }
    }
    if relative.as_os_str().is_empty() {
        return Err(PathError::NotFound);
    }
    Ok(relative)
}

/// Appends one plain segment; hidden files (a leading dot) are not served.
fn push_segment(relative: &mut PathBuf, segment: &std::ffi::OsStr) -> Result<(), PathError> {
    if segment.as_encoded_bytes().starts_with(b".") {
        return Err(PathError::NotFound);
    }
    relative.push(segment);
    Ok(())
}

/// Joins `relative` (from [`sanitize`]) to `root` and follows symlinks:
/// the real path must still be under the real root. Blocking.
pub(crate) fn confine(root: &Path, relative: &Path) -> Result<PathBuf, PathError> {
    let root = root.canonicalize().map_err(|_| PathError::NotFound)?;
    let real = root
        .join(relative)
        .canonicalize()
        .map_err(|_| PathError::NotFound)?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(PathError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_nested_paths_are_kept() {
        assert_eq!(sanitize("a/b.txt"), Ok(PathBuf::from("a/b.txt")));
        assert_eq!(sanitize("./a//b.txt"), Ok(PathBuf::from("a/b.txt")));
    }

    #[test]
    fn percent_encoded_names_are_decoded_once() {
        assert_eq!(sanitize("a%20b.txt"), Ok(PathBuf::from("a b.txt")));
        assert_eq!(sanitize("%252e%252e"), Ok(PathBuf::from("%2e%2e")));
    }

    #[test]
    fn traversal_is_refused() {
        for tail in [
            "..",
            "../x",
            "a/../../x",
            "..%2Fx",
            "%2e%2e/x",
            "a/%2E%2E%2fx",
        ] {
            assert_eq!(
                sanitize(tail),
                Err(PathError::Invalid("contains `..`")),
                "{tail}"
            );
        }
    }

    #[test]
    fn absolute_paths_are_refused() {
        for tail in ["/etc/passwd", "%2Fetc/passwd"] {
            assert_eq!(
                sanitize(tail),
                Err(PathError::Invalid("is absolute")),
                "{tail}"
            );
        }
    }

    #[test]
    fn nul_backslash_and_bad_utf8_are_refused() {
        assert_eq!(
            sanitize("a%00.txt"),
            Err(PathError::Invalid("contains a NUL byte"))
        );
        assert_eq!(
            sanitize("..%5cx"),
            Err(PathError::Invalid("contains a backslash"))
        );
        assert_eq!(
            sanitize("%ff"),
            Err(PathError::Invalid("is not UTF-8 once decoded"))
        );
    }

    #[test]
    fn hidden_and_empty_paths_are_not_found() {
        assert_eq!(sanitize(".env"), Err(PathError::NotFound));
        assert_eq!(sanitize("a/.git/config"), Err(PathError::NotFound));
        assert_eq!(sanitize(""), Err(PathError::NotFound));
        assert_eq!(sanitize("./"), Err(PathError::NotFound));
    }

    #[test]
    fn symlink_out_of_the_root_is_not_found() -> std::io::Result<()> {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), "secret")?;
        let root = tempfile::tempdir()?;
        std::fs::write(root.path().join("inside"), "inside")?;
        std::os::unix::fs::symlink(outside.path(), root.path().join("out"))?;
        std::os::unix::fs::symlink("inside", root.path().join("alias"))?;
        assert_eq!(
            confine(root.path(), Path::new("out/secret")),
            Err(PathError::NotFound)
        );
        let alias = confine(root.path(), Path::new("alias")).map_err(std::io::Error::other)?;
        assert!(alias.ends_with("inside"));
        Ok(())
    }
}
