//! `metadata.schedule`: a cron expression (since format 1.1), checked field by field so a
//! mistake is reported with what is wrong. Five fields (minute, hour, day of month, month,
//! day of week) with `*`, numbers, ranges `a-b`, steps `*/n` / `a-b/n`, lists `a,b`, month and
//! day names (`jan`, `mon`), or one of `@hourly` `@daily` `@midnight` `@weekly` `@monthly`
//! `@yearly` `@annually`.

const MACROS: &[&str] = &[
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
];
const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field's name, range and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    // 7 is Sunday too, as in most crons.
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: DAYS,
    },
];

/// Checks a cron expression; the error says which field is wrong and why.
pub fn check_cron(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.starts_with('@') {
        return if MACROS.contains(&text) {
            Ok(())
        } else {
            Err(format!("`{text}` is not one of {}", MACROS.join(", ")))
        };
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this has {}",
            parts.len()
        ));
    }
    for (part, field) in parts.iter().zip(&FIELDS) {
        for item in part.split(',') {
            check_item(item, field).map_err(|why| format!("{} `{part}`: {why}", field.name))?;
        }
    }
    Ok(())
}

fn check_item(item: &str, field: &Field) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= field.max.max(1) => {}
            _ => return Err(format!("`{step}` is not a step from 1 to {}", field.max)),
        }
    }
    if range == "*" {
        return Ok(());
    }
    let (low, high) = match range.split_once('-') {
        Some((low, high)) => (value(low, field)?, Some(value(high, field)?)),
        None => (value(range, field)?, None),
    };
    if let Some(high) = high
        && high < low
    {
        return Err(format!("the range `{range}` runs backwards"));
    }
    Ok(())
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        // Months count from 1 (jan), days of the week from 0 (sun).
        let first = u32::from(field.names == MONTHS);
        return Ok(i as u32 + first);
    }
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ if field.names.is_empty() => Err(format!(
            "`{text}` is not a number from {} to {}",
            field.min, field.max
        )),
        _ => Err(format!(
            "`{text}` is not a number from {} to {} or a name ({})",
            field.min,
            field.max,
            field.names.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::check_cron;

    #[test]
    fn accepts_common_schedules() {
        for ok in [
            "0 9 * * 1-5",
            "*/15 * * * *",
            "30 6 1 * *",
            "0 0 * jan,jul sun",
            "5,35 8-18/2 * * MON-FRI",
            "@daily",
            "0 3 * * 7",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let err = |text: &str| check_cron(text).unwrap_err();
        assert!(err("0 9 * *").contains("5 fields"), "{}", err("0 9 * *"));
        assert_eq!(
            err("60 9 * * *"),
            "minute `60`: `60` is not a number from 0 to 59"
        );
        assert_eq!(
            err("0 9 * 13 *"),
            "month `13`: `13` is not a number from 1 to 12 or a name (jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)"
        );
        assert_eq!(
            err("0 18-9 * * *"),
            "hour `18-9`: the range `18-9` runs backwards"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "minute `*/0`: `0` is not a step from 1 to 59"
        );
        assert!(err("@often").contains("@daily"));
        assert!(err("0 9 * * funday").contains("day of week"));
    }
}
