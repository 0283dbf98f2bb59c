//! The portable timestamp format (see `logplane_model::collection_config::time_format`) spelled
//! for each agent's time library. The model only accepts formats every spelling can express, so
//! these translations cannot fail.

use logplane_model::collection_config::TimeFormatItem;

/// Fluent Bit's strptime: the portable directives are its own, except `%:z`, which its `%z`
/// reads too (it accepts `+hh:mm` and `Z`).
pub fn fluent_bit_format(items: &[TimeFormatItem]) -> String {
    items
        .iter()
        .map(|item| match item {
            TimeFormatItem::Literal('%') => "%%".to_string(),
            TimeFormatItem::Literal(c) => c.to_string(),
            TimeFormatItem::Fraction => ".%L".to_string(),
            TimeFormatItem::OffsetColonOrZ => "%z".to_string(),
            other => strptime_directive(*other).to_string(),
        })
        .collect()
}

/// Vector's `parse_timestamp` (chrono): `%.f` reads a dot and any number of digits, and `%#z`
/// reads `Z`, `+hh:mm` and `+hhmm`.
pub fn chrono_format(items: &[TimeFormatItem]) -> String {
    items
        .iter()
        .map(|item| match item {
            TimeFormatItem::Literal('%') => "%%".to_string(),
            TimeFormatItem::Literal(c) => c.to_string(),
            TimeFormatItem::Fraction => "%.f".to_string(),
            TimeFormatItem::OffsetColonOrZ => "%#z".to_string(),
            other => strptime_directive(*other).to_string(),
        })
        .collect()
}

/// A Go reference-time layout, for the OpenTelemetry Collector's `layout_type: gotime`. The
/// portable literals contain no letters but `T`, so none of them reads as a layout element.
pub fn go_layout(items: &[TimeFormatItem]) -> String {
    items
        .iter()
        .map(|item| match item {
            TimeFormatItem::Literal(c) => c.to_string(),
            TimeFormatItem::Year4 => "2006".to_string(),
            TimeFormatItem::Year2 => "06".to_string(),
            TimeFormatItem::Month2 => "01".to_string(),
            TimeFormatItem::MonthAbbr => "Jan".to_string(),
            TimeFormatItem::Day2 => "02".to_string(),
            TimeFormatItem::DaySpacePadded => "_2".to_string(),
            TimeFormatItem::Hour24 => "15".to_string(),
            TimeFormatItem::Minute => "04".to_string(),
            TimeFormatItem::Second => "05".to_string(),
            // Nines: any number of digits when parsing.
            TimeFormatItem::Fraction => ".999999999".to_string(),
            TimeFormatItem::OffsetHhmm => "-0700".to_string(),
            TimeFormatItem::OffsetColonOrZ => "Z07:00".to_string(),
        })
        .collect()
}

fn strptime_directive(item: TimeFormatItem) -> &'static str {
    match item {
        TimeFormatItem::Year4 => "%Y",
        TimeFormatItem::Year2 => "%y",
        TimeFormatItem::Month2 => "%m",
        TimeFormatItem::MonthAbbr => "%b",
        TimeFormatItem::Day2 => "%d",
        TimeFormatItem::DaySpacePadded => "%e",
        TimeFormatItem::Hour24 => "%H",
        TimeFormatItem::Minute => "%M",
        TimeFormatItem::Second => "%S",
        TimeFormatItem::OffsetHhmm => "%z",
        TimeFormatItem::Literal(_) | TimeFormatItem::Fraction | TimeFormatItem::OffsetColonOrZ => {
            unreachable!("handled by the callers")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logplane_model::collection_config::parse_time_format;

    #[test]
    fn spells_formats_for_each_library() {
        let rfc3339 = parse_time_format("%Y-%m-%dT%H:%M:%S.%L%:z").unwrap();
        assert_eq!(fluent_bit_format(&rfc3339), "%Y-%m-%dT%H:%M:%S.%L%z");
        assert_eq!(chrono_format(&rfc3339), "%Y-%m-%dT%H:%M:%S%.f%#z");
        assert_eq!(go_layout(&rfc3339), "2006-01-02T15:04:05.999999999Z07:00");
        let nginx = parse_time_format("[%d/%b/%Y:%H:%M:%S %z] %%").unwrap();
        assert_eq!(fluent_bit_format(&nginx), "[%d/%b/%Y:%H:%M:%S %z] %%");
        assert_eq!(chrono_format(&nginx), "[%d/%b/%Y:%H:%M:%S %z] %%");
        assert_eq!(go_layout(&nginx), "[02/Jan/2006:15:04:05 -0700] %");
        let short = parse_time_format("%y%m%e %H:%M").unwrap();
        assert_eq!(go_layout(&short), "0601_2 15:04");
    }
}
