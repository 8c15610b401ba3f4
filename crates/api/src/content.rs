//! What an uploaded file really is, decided from its content — never from
//! its name or declared type — and checked beyond the first bytes:
//!
//! - **PDF**: a `%PDF-1.x` or `%PDF-2.0` header; `%%EOF` within the last
//!   kilobyte; the last `startxref` before it points inside the file at a
//!   cross-reference table (`xref`) or a cross-reference stream object
//!   (`N G obj`). `%PDF-` followed by anything else is refused.
//! - **PNG and JPEG**: the image's header must decode to a width and height
//!   (the `image` crate's probe), and the file must end where the format
//!   ends (PNG's `IEND` chunk, JPEG's end-of-image marker), so a valid header
//!   followed by HTML is refused.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The accepted types.
pub const PDF: &str = "application/pdf";
/// JPEG images.
pub const JPEG: &str = "image/jpeg";
/// PNG images.
pub const PNG: &str = "image/png";

/// The accepted types, as the API names them (a file's `media_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum MediaType {
    /// [`PDF`].
    #[serde(rename = "application/pdf")]
    Pdf,
    /// [`JPEG`].
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// [`PNG`].
    #[serde(rename = "image/png")]
    Png,
}

/// The media type the first bytes announce, if it is one we accept.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some(PDF)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(JPEG)
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(PNG)
    } else {
        None
    }
}

/// Checks the stored file at `path` against the type its first bytes
/// announce; returns that type, or why the content is refused.
pub fn check(path: &Path) -> Result<&'static str, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut head = [0u8; 16];
    let read = file.read(&mut head).map_err(|e| e.to_string())?;
    let media_type = sniff(&head[..read]).ok_or("is not a PDF, JPEG or PNG file")?;
    match media_type {
        PDF => check_pdf(&mut file, &head[..read])?,
        _ => check_image(path, media_type)?,
    }
    Ok(media_type)
}

fn tail(file: &mut File, bytes: u64) -> Result<Vec<u8>, String> {
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let start = len.saturating_sub(bytes);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

fn check_pdf(file: &mut File, head: &[u8]) -> Result<(), String> {
    let version_ok = matches!(
        head.get(5..8),
        Some([b'1', b'.', b'0'..=b'7']) | Some(b"2.0")
    );
    if !version_ok {
        return Err("is not a PDF: no %PDF-1.x or %PDF-2.0 header".into());
    }
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let end = tail(file, 1024)?;
    let broken = || "is not a well-formed PDF (no cross-reference trailer)".to_owned();
    let eof = find_last(&end, b"%%EOF").ok_or_else(broken)?;
    let startxref = find_last(&end[..eof], b"startxref").ok_or_else(broken)?;
    let offset: u64 = std::str::from_utf8(&end[startxref + 9..eof])
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(broken)?;
    if offset >= len {
        return Err(broken());
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let mut at = [0u8; 32];
    let read = file.read(&mut at).map_err(|e| e.to_string())?;
    let at = &at[..read];
    if at.starts_with(b"xref") || is_object_header(at) {
        Ok(())
    } else {
        Err(broken())
    }
}

/// `N G obj`: the start of an indirect object (a cross-reference stream).
fn is_object_header(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let mut words = text.split_ascii_whitespace();
    let number =
        |w: Option<&str>| w.is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
    number(words.next())
        && number(words.next())
        && words.next().is_some_and(|w| w.starts_with("obj"))
}

fn check_image(path: &Path, media_type: &str) -> Result<(), String> {
    let format = if media_type == PNG {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    };
    let file = File::open(path).map_err(|e| e.to_string())?;
    let (width, height) = image::ImageReader::with_format(BufReader::new(file), format)
        .into_dimensions()
        .map_err(|_| format!("is not a readable {} image", short(media_type)))?;
    if width == 0 || height == 0 {
        return Err(format!("is not a readable {} image", short(media_type)));
    }
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let end = tail(&mut file, 12)?;
    let ends_well = if media_type == PNG {
        // The IEND chunk: length 0, type, CRC.
        end.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82])
    } else {
        end.ends_with(&[0xFF, 0xD9])
    };
    if ends_well {
        Ok(())
    } else {
        Err(format!(
            "is not a complete {} image (data after its end)",
            short(media_type)
        ))
    }
}

fn short(media_type: &str) -> &'static str {
    if media_type == PNG { "PNG" } else { "JPEG" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_media_types_are_the_accepted_ones() {
        let named = [MediaType::Pdf, MediaType::Jpeg, MediaType::Png]
            .map(|t| serde_json::to_value(t).unwrap_or_default());
        assert_eq!(named, [PDF, JPEG, PNG].map(serde_json::Value::from));
    }

    /// A minimal well-formed PDF: two objects, a cross-reference table, a trailer.
    pub const MINIMAL_PDF: &[u8] = b"%PDF-1.4\n\
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n\
trailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%EOF\n";

    fn checked(bytes: &[u8]) -> Result<&'static str, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("upload");
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        check(&path)
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let image = image::RgbImage::new(width, height);
        let _ = image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png);
        out
    }

    #[test]
    fn a_well_formed_pdf_is_accepted() {
        assert_eq!(checked(MINIMAL_PDF), Ok(PDF));
    }

    #[test]
    fn a_pdf_header_followed_by_anything_is_refused() {
        let mut fake = b"%PDF-1.7\n".to_vec();
        fake.extend((0..4000u32).map(|i| (i * 7919 % 251) as u8));
        assert!(checked(&fake).is_err());
        // A trailer pointing nowhere.
        let lying = String::from_utf8_lossy(MINIMAL_PDF).replace("startxref\n110", "startxref\n30");
        assert!(checked(lying.as_bytes()).is_err());
        assert!(checked(b"%PDF-9.9\n%%EOF").is_err());
    }

    #[test]
    fn images_must_decode_and_end_where_the_format_ends() {
        let good = png(3, 2);
        assert_eq!(checked(&good), Ok(PNG));
        let mut with_html = good.clone();
        with_html.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert!(checked(&with_html).is_err());
        let header_only = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, b'<', b'h'];
        assert!(checked(&header_only).is_err());
        assert!(checked(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_err());
        assert!(checked(b"<html>").is_err());
    }
}
