//! Reading a timestamp with a portable format, as strictly as the strictest agent library reads
//! it (Go's layouts want every numeric field at its full width), so a preview that parses means
//! every agent type parses.

use logplane_model::collection_config::TimeFormatItem;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

const MONTH_ABBREVIATIONS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

#[derive(Default)]
struct Parts {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanosecond: u32,
    offset_seconds: i32,
}

struct Cursor<'t> {
    rest: &'t str,
}

impl<'t> Cursor<'t> {
    fn digits(&mut self, count: usize, what: &str) -> Result<u32, String> {
        let taken = self
            .rest
            .get(..count)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
        let Some(taken) = taken else {
            return Err(format!(
                "expected {count} digits of {what} at {:?}",
                self.rest
            ));
        };
        self.rest = &self.rest[count..];
        Ok(taken.parse().expect("ASCII digits parse"))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(format!("expected {c:?} at {:?}", self.rest)),
        }
    }

    fn sign(&mut self) -> Result<i32, String> {
        if self.expect('+').is_ok() {
            return Ok(1);
        }
        self.expect('-')
            .map(|_| -1)
            .map_err(|_| format!("expected an offset at {:?}", self.rest))
    }
}

/// The instant the text names, as RFC 3339 in UTC.
pub fn parse_timestamp(text: &str, items: &[TimeFormatItem]) -> Result<String, String> {
    let mut cursor = Cursor { rest: text };
    let mut parts = Parts::default();
    for item in items {
        match item {
            TimeFormatItem::Literal(c) => cursor.expect(*c)?,
            TimeFormatItem::Year4 => parts.year = cursor.digits(4, "year")? as i32,
            TimeFormatItem::Year2 => {
                // POSIX: 69–99 are 1969–1999, 00–68 are 2000–2068.
                let short = cursor.digits(2, "year")? as i32;
                parts.year = if short >= 69 {
                    1900 + short
                } else {
                    2000 + short
                };
            }
            TimeFormatItem::Month2 => parts.month = cursor.digits(2, "month")? as u8,
            TimeFormatItem::MonthAbbr => {
                let name = cursor
                    .rest
                    .get(..3)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let position = MONTH_ABBREVIATIONS.iter().position(|m| *m == name);
                let Some(position) = position else {
                    return Err(format!("expected a month name at {:?}", cursor.rest));
                };
                cursor.rest = &cursor.rest[3..];
                parts.month = position as u8 + 1;
            }
            TimeFormatItem::Day2 => parts.day = cursor.digits(2, "day")? as u8,
            TimeFormatItem::DaySpacePadded => {
                parts.day = if cursor.expect(' ').is_ok() {
                    cursor.digits(1, "day")? as u8
                } else {
                    cursor.digits(2, "day")? as u8
                };
            }
            TimeFormatItem::Hour24 => parts.hour = cursor.digits(2, "hour")? as u8,
            TimeFormatItem::Minute => parts.minute = cursor.digits(2, "minute")? as u8,
            TimeFormatItem::Second => parts.second = cursor.digits(2, "second")? as u8,
            TimeFormatItem::Fraction => {
                cursor.expect('.')?;
                let digits = cursor.rest.bytes().take_while(u8::is_ascii_digit).count();
                if !(1..=9).contains(&digits) {
                    return Err(format!(
                        "expected 1 to 9 digits of a fraction at {:?}",
                        cursor.rest
                    ));
                }
                let fraction = cursor.digits(digits, "fraction")?;
                parts.nanosecond = fraction * 10u32.pow(9 - digits as u32);
            }
            TimeFormatItem::OffsetHhmm => {
                let sign = cursor.sign()?;
                let hours = cursor.digits(2, "offset hours")? as i32;
                let minutes = cursor.digits(2, "offset minutes")? as i32;
                parts.offset_seconds = sign * (hours * 3600 + minutes * 60);
            }
            TimeFormatItem::OffsetColonOrZ => {
                if cursor.expect('Z').is_ok() {
                    parts.offset_seconds = 0;
                } else {
                    let sign = cursor.sign()?;
                    let hours = cursor.digits(2, "offset hours")? as i32;
                    cursor.expect(':')?;
                    let minutes = cursor.digits(2, "offset minutes")? as i32;
                    parts.offset_seconds = sign * (hours * 3600 + minutes * 60);
                }
            }
        }
    }
    if !cursor.rest.is_empty() {
        return Err(format!(
            "unexpected text after the timestamp: {:?}",
            cursor.rest
        ));
    }
    let month = Month::try_from(parts.month)
        .map_err(|_| format!("month {} is out of range", parts.month))?;
    let date = Date::from_calendar_date(parts.year, month, parts.day)
        .map_err(|error| format!("no such date: {error}"))?;
    let time = Time::from_hms_nano(parts.hour, parts.minute, parts.second, parts.nanosecond)
        .map_err(|error| format!("no such time: {error}"))?;
    let offset = UtcOffset::from_whole_seconds(parts.offset_seconds)
        .map_err(|error| format!("no such offset: {error}"))?;
    let instant: OffsetDateTime = PrimitiveDateTime::new(date, time).assume_offset(offset);
    instant
        .to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|error| format!("cannot be written as RFC 3339: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logplane_model::collection_config::parse_time_format;

    fn parse(text: &str, format: &str) -> Result<String, String> {
        parse_timestamp(text, &parse_time_format(format).unwrap())
    }

    #[test]
    fn reads_common_layouts_into_utc() {
        assert_eq!(
            parse("10/Oct/2000:13:55:36 -0700", "%d/%b/%Y:%H:%M:%S %z").unwrap(),
            "2000-10-10T20:55:36Z"
        );
        assert_eq!(
            parse("2024-02-29T23:59:59.5+01:00", "%Y-%m-%dT%H:%M:%S.%L%:z").unwrap(),
            "2024-02-29T22:59:59.5Z"
        );
        assert_eq!(
            parse("2024-01-02T03:04:05.123456789Z", "%Y-%m-%dT%H:%M:%S.%L%:z").unwrap(),
            "2024-01-02T03:04:05.123456789Z"
        );
        assert_eq!(
            parse("2401 7 17:05", "%y%m%e %H:%M").unwrap(),
            "2024-01-07T17:05:00Z"
        );
        assert_eq!(
            parse("690102 17:05", "%y%m%d %H:%M").unwrap(),
            "1969-01-02T17:05:00Z"
        );
        assert_eq!(
            parse("2024-JAN-02 17:05", "%Y-%b-%d %H:%M").unwrap(),
            "2024-01-02T17:05:00Z"
        );
    }

    #[test]
    fn refuses_what_some_agent_would_refuse() {
        for (text, format) in [
            ("2024-1-02 10:00", "%Y-%m-%d %H:%M"),
            ("2023-02-29 10:00", "%Y-%m-%d %H:%M"),
            ("2024-01-02 24:00", "%Y-%m-%d %H:%M"),
            ("2024-01-02 10:00 extra", "%Y-%m-%d %H:%M"),
            ("2024-01-02 10:00:00.", "%Y-%m-%d %H:%M:%S.%L"),
            ("2024-01-02 10:00 +01:00", "%Y-%m-%d %H:%M %z"),
            ("2024-01-02 10:00 +0100", "%Y-%m-%d %H:%M %:z"),
            ("2024-Foo-02 10:00", "%Y-%b-%d %H:%M"),
        ] {
            assert!(parse(text, format).is_err(), "{text} with {format}");
        }
    }

    /// Writes a date in a format, as a log writer would (the inverse of parsing).
    fn write(items: &[TimeFormatItem], instant: OffsetDateTime) -> String {
        let mut text = String::new();
        let offset = instant.offset().whole_minutes();
        let (sign, offset) = if offset < 0 {
            ('-', -offset)
        } else {
            ('+', offset)
        };
        for item in items {
            match item {
                TimeFormatItem::Literal(c) => text.push(*c),
                TimeFormatItem::Year4 => text += &format!("{:04}", instant.year()),
                TimeFormatItem::Year2 => text += &format!("{:02}", instant.year() % 100),
                TimeFormatItem::Month2 => text += &format!("{:02}", instant.month() as u8),
                TimeFormatItem::MonthAbbr => {
                    text += &instant.month().to_string()[..3];
                }
                TimeFormatItem::Day2 => text += &format!("{:02}", instant.day()),
                TimeFormatItem::DaySpacePadded => text += &format!("{:>2}", instant.day()),
                TimeFormatItem::Hour24 => text += &format!("{:02}", instant.hour()),
                TimeFormatItem::Minute => text += &format!("{:02}", instant.minute()),
                TimeFormatItem::Second => text += &format!("{:02}", instant.second()),
                TimeFormatItem::Fraction => text += &format!(".{:09}", instant.nanosecond()),
                TimeFormatItem::OffsetHhmm => {
                    text += &format!("{sign}{:02}{:02}", offset / 60, offset % 60);
                }
                TimeFormatItem::OffsetColonOrZ => {
                    text += &format!("{sign}{:02}:{:02}", offset / 60, offset % 60);
                }
            }
        }
        text
    }

    proptest::proptest! {
        /// Whatever a log writer writes in a full format, the preview reads back as that instant.
        #[test]
        fn reads_back_what_was_written(
            seconds in 0i64..4_102_444_800,
            nanos in 0u32..1_000_000_000,
            offset_quarters in -48i32..=56,
            format in proptest::sample::select(vec![
                "%Y-%m-%dT%H:%M:%S.%L%:z",
                "%d/%b/%Y:%H:%M:%S.%L %z",
                "[%Y/%m/%e %H:%M:%S.%L] %z",
            ]),
        ) {
            let offset = UtcOffset::from_whole_seconds(offset_quarters * 15 * 60).unwrap();
            let instant = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                .replace_nanosecond(nanos).unwrap()
                .to_offset(offset);
            let items = parse_time_format(format).unwrap();
            let parsed = parse_timestamp(&write(&items, instant), &items).unwrap();
            let parsed = OffsetDateTime::parse(&parsed, &Rfc3339).unwrap();
            proptest::prop_assert_eq!(parsed, instant);
        }
    }
}
