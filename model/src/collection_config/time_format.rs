//! Timestamp formats: a small, portable subset of strptime. Every agent type parses timestamps
//! with a different library (Fluent Bit's strptime, Vector's chrono, the OpenTelemetry Collector's
//! Go layouts); the subset is what all of them can express exactly, so a format accepted here can
//! be rendered for every agent type and behaves the same in the preview.

pub const MAX_TIME_FORMAT_CHARS: usize = 64;
/// Literal characters allowed between directives. Letters other than `T` are excluded because Go
/// layouts would read some of them (`Jan`, `PM`, `MST`) as directives.
pub const TIME_FORMAT_LITERALS: &[char] = &[' ', '-', '/', ':', '.', ',', 'T', '[', ']', '(', ')'];
pub const TIME_FORMAT_DESCRIPTION: &str = "A strptime format using only %Y %y %m %b %d %e %H %M %S \
     .%L (a dot and 1–9 digits of fractional seconds, right after %S) %z (+hhmm) %:z (+hh:mm or \
     Z) and %%, with the literals space - / : . , T [ ] ( ). It must contain a year, a month, a \
     day, an hour and a minute; without an offset the time is UTC.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeFormatItem {
    Literal(char),
    /// `%Y`: four digits.
    Year4,
    /// `%y`: two digits, 1969–2068 as POSIX reads them.
    Year2,
    /// `%m`: two digits.
    Month2,
    /// `%b`: `Jan` … `Dec`, in any case.
    MonthAbbr,
    /// `%d`: two digits.
    Day2,
    /// `%e`: the day, space-padded to two characters.
    DaySpacePadded,
    /// `%H`: two digits, 00–23.
    Hour24,
    /// `%M`: two digits.
    Minute,
    /// `%S`: two digits.
    Second,
    /// `.%L`: a dot and 1–9 digits of fractional seconds.
    Fraction,
    /// `%z`: `+hhmm` or `-hhmm`.
    OffsetHhmm,
    /// `%:z`: `+hh:mm`, `-hh:mm` or `Z`.
    OffsetColonOrZ,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Component {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
    Offset,
}

impl TimeFormatItem {
    fn component(self) -> Option<Component> {
        use TimeFormatItem::*;
        match self {
            Literal(_) => None,
            Year4 | Year2 => Some(Component::Year),
            Month2 | MonthAbbr => Some(Component::Month),
            Day2 | DaySpacePadded => Some(Component::Day),
            Hour24 => Some(Component::Hour),
            Minute => Some(Component::Minute),
            Second => Some(Component::Second),
            Fraction => Some(Component::Fraction),
            OffsetHhmm | OffsetColonOrZ => Some(Component::Offset),
        }
    }
}

/// Splits a format into items, or says what is not portable about it.
pub fn parse_time_format(format: &str) -> Result<Vec<TimeFormatItem>, String> {
    if format.is_empty() || format.chars().count() > MAX_TIME_FORMAT_CHARS {
        return Err(format!(
            "must be 1 to {MAX_TIME_FORMAT_CHARS} characters long"
        ));
    }
    let mut items: Vec<TimeFormatItem> = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            if !TIME_FORMAT_LITERALS.contains(&c) {
                return Err(format!(
                    "literal {c:?} is not portable across agent types; allowed literals are \
                     space - / : . , T [ ] ( )"
                ));
            }
            items.push(TimeFormatItem::Literal(c));
            continue;
        }
        let directive = chars.next().ok_or("must not end with a lone '%'")?;
        let item = match directive {
            '%' => TimeFormatItem::Literal('%'),
            'Y' => TimeFormatItem::Year4,
            'y' => TimeFormatItem::Year2,
            'm' => TimeFormatItem::Month2,
            'b' => TimeFormatItem::MonthAbbr,
            'd' => TimeFormatItem::Day2,
            'e' => TimeFormatItem::DaySpacePadded,
            'H' => TimeFormatItem::Hour24,
            'M' => TimeFormatItem::Minute,
            'S' => TimeFormatItem::Second,
            'z' => TimeFormatItem::OffsetHhmm,
            ':' if chars.peek() == Some(&'z') => {
                chars.next();
                TimeFormatItem::OffsetColonOrZ
            }
            'L' => {
                let after_second_and_dot = items.len() >= 2
                    && items[items.len() - 1] == TimeFormatItem::Literal('.')
                    && items[items.len() - 2] == TimeFormatItem::Second;
                if !after_second_and_dot {
                    return Err("%L must come right after '%S.'".to_string());
                }
                items.pop();
                TimeFormatItem::Fraction
            }
            other => {
                return Err(format!(
                    "directive %{other} is not portable across agent types; use %Y %y %m %b %d \
                     %e %H %M %S .%L %z %:z or %%"
                ));
            }
        };
        if let Some(component) = item.component()
            && items.iter().any(|seen| seen.component() == Some(component))
        {
            return Err(format!("names the {component:?} twice").to_lowercase());
        }
        items.push(item);
    }
    let has = |component: Component| items.iter().any(|i| i.component() == Some(component));
    for (component, name) in [
        (Component::Year, "a year (%Y or %y)"),
        (Component::Month, "a month (%m or %b)"),
        (Component::Day, "a day (%d or %e)"),
        (Component::Hour, "an hour (%H)"),
        (Component::Minute, "a minute (%M)"),
    ] {
        if !has(component) {
            return Err(format!("must contain {name}"));
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeFormatItem::*;

    #[test]
    fn reads_the_common_formats() {
        assert_eq!(
            parse_time_format("%Y-%m-%dT%H:%M:%S.%L%:z").unwrap(),
            [
                Year4,
                Literal('-'),
                Month2,
                Literal('-'),
                Day2,
                Literal('T'),
                Hour24,
                Literal(':'),
                Minute,
                Literal(':'),
                Second,
                Fraction,
                OffsetColonOrZ
            ]
        );
        // nginx and Apache access logs.
        assert!(parse_time_format("%d/%b/%Y:%H:%M:%S %z").is_ok());
        assert!(parse_time_format("%y%m%d %e %H:%M %%").is_err());
        assert!(parse_time_format("%y%m%d %H:%M %%").is_ok());
    }

    #[test]
    fn refuses_what_is_not_portable() {
        for (format, expected) in [
            ("%Y-%m-%d %H:%M:%S %Z", "directive %Z"),
            ("%b %d %H:%M:%S", "must contain a year"),
            ("%Y-%m-%dZ%H:%M", "literal 'Z'"),
            ("%Y-%m-%d %H:%M:%L", "%L must come right after"),
            ("%Y %Y-%m-%d %H:%M", "names the year twice"),
            ("%Y-%m-%d %H:%M%", "lone '%'"),
            ("", "1 to 64"),
        ] {
            let error = parse_time_format(format).unwrap_err();
            assert!(error.contains(expected), "{format}: {error}");
        }
    }
}
