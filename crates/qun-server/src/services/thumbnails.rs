//! Thumbnails of uploaded images: a scaled copy within a bounding box, made once at upload.
//!
//! Only PNG, JPEG, GIF and WebP are decoded (the first frame of an animation), under
//! [`decode_limits`], so a hostile image (a tiny file that claims 60,000 × 60,000 pixels)
//! fails to decode instead of exhausting memory. Anything that does not decode has no
//! thumbnail: its download serves the original. CPU-bound: callers run it on the blocking
//! pool, one per core at a time (`FileStorage::thumbnail_turn`).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The box a thumbnail fits in when the upload names none (Agora: 170 × 170 px).
pub const DEFAULT_SIDE: u32 = 170;
/// The sides a client may ask for are clamped to this range.
pub const MIN_SIDE: u32 = 16;
pub const MAX_SIDE: u32 = 1024;

/// Images no larger than this are their own thumbnail (Agora: 10 KB).
pub const SMALL_IMAGE_BYTES: usize = 10 * 1024;

/// No side of a decoded image may exceed this.
const MAX_DECODED_SIDE: u32 = 12_000;
/// What one decode may allocate: a 12-megapixel photo with alpha needs 48 MB.
const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;
/// JPEG thumbnails: small, and still sharp at 170 px.
const JPEG_QUALITY: u8 = 80;

/// The bounding box of a thumbnail, clamped to [`MIN_SIDE`]..=[`MAX_SIDE`] each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailBox {
    width: u32,
    height: u32,
}

impl ThumbnailBox {
    /// The box a client asked for; a side it did not name is [`DEFAULT_SIDE`].
    pub fn requested(width: Option<u32>, height: Option<u32>) -> ThumbnailBox {
        let side = |asked: Option<u32>| asked.unwrap_or(DEFAULT_SIDE).clamp(MIN_SIDE, MAX_SIDE);
        ThumbnailBox { width: side(width), height: side(height) }
    }
}

impl Default for ThumbnailBox {
    fn default() -> Self {
        ThumbnailBox::requested(None, None)
    }
}

/// A thumbnail, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an image has no thumbnail of its own.
#[derive(Debug, thiserror::Error)]
pub enum NoThumbnail {
    #[error("the image already fits the thumbnail box")]
    AlreadySmall,
    #[error("not an image this server decodes")]
    NotAnImage,
    #[error("the image does not decode within the limits: {0}")]
    Undecodable(#[from] image::ImageError),
}

/// The image format of `bytes`, if it is one this server decodes.
pub fn image_format(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .filter(|format| matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP))
}

/// The thumbnail of the image in `bytes`, scaled to fit `bounds` with its aspect ratio kept:
/// JPEG for JPEG sources, PNG (transparency kept) for the others.
pub fn make_thumbnail(bytes: &[u8], bounds: ThumbnailBox) -> Result<Thumbnail, NoThumbnail> {
    let format = image_format(bytes).ok_or(NoThumbnail::NotAnImage)?;
    if bytes.len() <= SMALL_IMAGE_BYTES {
        return Err(NoThumbnail::AlreadySmall);
    }
    let (width, height) = reader(bytes, format).into_dimensions()?;
    if width <= bounds.width && height <= bounds.height {
        return Err(NoThumbnail::AlreadySmall);
    }
    let image = reader(bytes, format).decode()?;
    let scaled = image.thumbnail(bounds.width, bounds.height);
    let (bytes, content_type) = encode(&scaled, format)?;
    Ok(Thumbnail { bytes, content_type, width: scaled.width(), height: scaled.height() })
}

fn reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decode_limits());
    reader
}

/// The bounds of one decode (see the module docs).
fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn encode(image: &DynamicImage, source: ImageFormat) -> Result<(Vec<u8>, &'static str), image::ImageError> {
    let mut out = Vec::new();
    if source == ImageFormat::Jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        image.to_rgb8().write_with_encoder(encoder)?;
        Ok((out, "image/jpeg"))
    } else {
        image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?;
        Ok((out, "image/png"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of noise (so it does not compress below the small-image size).
    fn noisy_png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| {
            let v = x.wrapping_mul(2_654_435_761).wrapping_add(y.wrapping_mul(40_503)).to_le_bytes();
            image::Rgba([v[0], v[1], v[2], 255])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(image).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn a_large_image_is_scaled_into_the_box_keeping_its_shape() {
        let png = noisy_png(400, 200);
        let thumbnail = make_thumbnail(&png, ThumbnailBox::default()).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height, thumbnail.content_type), (170, 85, "image/png"));
        let decoded = image::load_from_memory(&thumbnail.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (170, 85));

        let tall = make_thumbnail(&png, ThumbnailBox::requested(Some(1000), Some(50))).unwrap();
        assert_eq!((tall.width, tall.height), (100, 50));
    }

    #[test]
    fn jpeg_stays_jpeg() {
        let mut jpeg = Vec::new();
        let image = image::RgbImage::from_fn(600, 600, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
        DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        let thumbnail = make_thumbnail(&jpeg, ThumbnailBox::default()).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height, thumbnail.content_type), (170, 170, "image/jpeg"));
        assert_eq!(image_format(&thumbnail.bytes), Some(ImageFormat::Jpeg));
    }

    #[test]
    fn small_images_and_non_images_have_no_thumbnail() {
        assert!(matches!(
            make_thumbnail(&noisy_png(100, 100), ThumbnailBox::default()),
            Err(NoThumbnail::AlreadySmall)
        ));
        assert!(matches!(make_thumbnail(&noisy_png(8, 8), ThumbnailBox::default()), Err(NoThumbnail::AlreadySmall)));
        assert!(matches!(make_thumbnail(&[7u8; 20_000], ThumbnailBox::default()), Err(NoThumbnail::NotAnImage)));
    }

    /// `png` with its header (IHDR) claiming `side` × `side` pixels, checksum fixed up.
    fn png_claiming(side: u32) -> Vec<u8> {
        let mut png = noisy_png(300, 300);
        png[16..20].copy_from_slice(&side.to_be_bytes());
        png[20..24].copy_from_slice(&side.to_be_bytes());
        // CRC-32 of the chunk type and data (bytes 12..29), stored after them.
        let mut crc = !0u32;
        for &byte in &png[12..29] {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        png[29..33].copy_from_slice(&(!crc).to_be_bytes());
        png
    }

    #[test]
    fn a_hostile_header_fails_to_decode_instead_of_allocating() {
        // Over the side limit: 60,000² pixels would be 14 GB decoded.
        assert!(matches!(
            make_thumbnail(&png_claiming(60_000), ThumbnailBox::default()),
            Err(NoThumbnail::Undecodable(_))
        ));
        // Within the side limit but over the allocation limit: 10,000² RGBA is 400 MB.
        let refused = make_thumbnail(&png_claiming(10_000), ThumbnailBox::default());
        assert!(
            matches!(&refused, Err(NoThumbnail::Undecodable(image::ImageError::Limits(_)))),
            "refused by the limits, not by a broken file: {refused:?}"
        );
        // The fix-up is right: the same header claiming its true size decodes.
        assert!(make_thumbnail(&png_claiming(300), ThumbnailBox::default()).is_ok());
    }

    #[test]
    fn requested_sides_are_clamped() {
        assert_eq!(ThumbnailBox::requested(Some(0), Some(100_000)), ThumbnailBox { width: MIN_SIDE, height: MAX_SIDE });
        assert_eq!(ThumbnailBox::requested(None, Some(300)), ThumbnailBox { width: 170, height: 300 });
    }
}
