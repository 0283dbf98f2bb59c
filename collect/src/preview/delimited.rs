//! Splitting a delimited line, CSV-style: a value that starts with the quote character runs to
//! the next quote that is not doubled, may contain the separator, and reads a doubled quote as
//! one. A quote inside an unquoted value is an ordinary character.

pub fn split_delimited(
    line: &str,
    separator: char,
    quote: Option<char>,
) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut value = String::new();
        let opening_quote = quote.filter(|quote| chars.peek() == Some(quote));
        if let Some(quote) = opening_quote {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!("value {} has no closing {quote}", values.len() + 1));
                    }
                    Some(c) if c == quote && chars.peek() == Some(&quote) => {
                        chars.next();
                        value.push(quote);
                    }
                    Some(c) if c == quote => break,
                    Some(c) => value.push(c),
                }
            }
            match chars.peek() {
                None => {}
                Some(c) if *c == separator => {}
                Some(c) => {
                    return Err(format!(
                        "value {} has {c:?} after its closing {quote}",
                        values.len() + 1
                    ));
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == separator {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        values.push(value);
        if chars.next().is_none() {
            return Ok(values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_csv() {
        let split = |line| split_delimited(line, ',', Some('"'));
        assert_eq!(split("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("a,,").unwrap(), ["a", "", ""]);
        assert_eq!(
            split(r#""a,b","say ""hi""",c"#).unwrap(),
            ["a,b", r#"say "hi""#, "c"]
        );
        assert_eq!(split(r#"a"b,c"#).unwrap(), [r#"a"b"#, "c"]);
        assert!(split(r#""open,b"#).unwrap_err().contains("no closing"));
        assert!(
            split(r#""a"b,c"#)
                .unwrap_err()
                .contains("after its closing")
        );
    }

    #[test]
    fn without_a_quote_character_quotes_are_text() {
        assert_eq!(
            split_delimited("\"a\"\t\"b", '\t', None).unwrap(),
            ["\"a\"", "\"b"]
        );
    }
}
