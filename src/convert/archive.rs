//! The `.keras` zip, as Keras writes it (keras-formats.md §4.1): `metadata.json`, `config.json`
//! and `model.weights.h5`, in that order, all stored uncompressed.

use std::io::{Seek, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Writes the archive; the JSON members carry the zip epoch (1980-01-01) as Keras's do, the
/// weights member the current time.
pub fn write<W: Write + Seek>(
    out: W,
    metadata: &str,
    config: &str,
    weights: &[u8],
) -> zip::result::ZipResult<()> {
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT);
    let mut zip = ZipWriter::new(out);
    zip.start_file("metadata.json", stored)?;
    zip.write_all(metadata.as_bytes())?;
    zip.start_file("config.json", stored)?;
    zip.write_all(config.as_bytes())?;
    let now = now_utc();
    let dated = stored
        .last_modified_time(zip_date(now).unwrap_or(DateTime::DEFAULT))
        .large_file(weights.len() as u64 >= u32::MAX as u64);
    zip.start_file("model.weights.h5", dated)?;
    zip.write_all(weights)?;
    zip.finish()?;
    Ok(())
}

/// Keras's `date_saved`: `YYYY-MM-DD@HH:MM:SS` (UTC here).
pub fn date_saved() -> String {
    let (y, mo, d, h, mi, s) = now_utc();
    format!("{y:04}-{mo:02}-{d:02}@{h:02}:{mi:02}:{s:02}")
}

type Civil = (i64, u32, u32, u32, u32, u32);

fn zip_date((y, mo, d, h, mi, s): Civil) -> Option<DateTime> {
    DateTime::from_date_and_time(
        u16::try_from(y).ok()?,
        mo as u8,
        d as u8,
        h as u8,
        mi as u8,
        s as u8,
    )
    .ok()
}

fn now_utc() -> Civil {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    civil(secs)
}

/// Seconds since the Unix epoch → UTC calendar date and time (Howard Hinnant's algorithm).
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::civil;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_798_443_728), (2026, 12, 28, 7, 42, 8));
    }
}
