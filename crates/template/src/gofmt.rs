//! Go's `fmt` and `strconv` output for template values: `%v` as templates print values,
//! `printf`'s verbs and flags, `strconv.Quote` and float formatting (`%g` shortest,
//! `%.4g`, `%e`, `%f`, `+Inf`), so expanded text matches Prometheus byte for byte.

use std::fmt::Write;

use crate::value::Value;

/// Go's `unicode.IsPrint`, approximated with the standard library: graphic characters and
/// the ASCII space, not other spaces, controls, format characters or private use.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let v = c as u32;
    let format_or_private = matches!(v,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    !format_or_private
}

/// `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        escape_rune(&mut out, c, q, ascii_only);
    }
    out.push(q);
    out
}

fn escape_rune(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if if ascii_only {
        c.is_ascii() && is_print(c)
    } else {
        is_print(c)
    } {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\x7f')))
}

/// The decimal digits of |v| (no trailing zeros; empty for zero) and the position of the
/// decimal point: v = 0.d1d2d3... × 10^dp, as strconv's `decimalSlice`.
fn digits_of(scientific: &str) -> (Vec<u8>, i32) {
    // `scientific` is Rust's `{:e}` form: `1.2345e-7`.
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return (digits, 0);
    }
    (digits, exp + 1)
}

fn shortest_digits(v: f64) -> (Vec<u8>, i32) {
    digits_of(&format!("{:e}", v.abs()))
}

fn precision_digits(v: f64, significant: usize) -> (Vec<u8>, i32) {
    digits_of(&format!("{:.*e}", significant.saturating_sub(1), v.abs()))
}

/// strconv's `%e` from digits: `prec` digits after the point.
fn fmt_e(out: &mut String, digits: &[u8], dp: i32, prec: usize, upper: bool) {
    out.push(char::from(*digits.first().unwrap_or(&b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(*digits.get(i).unwrap_or(&b'0')));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

/// strconv's `%f` from digits: `prec` digits after the point.
fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        let dp = dp as usize;
        for i in 0..dp {
            out.push(char::from(*digits.get(i).unwrap_or(&b'0')));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let j = dp + i - 1;
            let d = if j >= 0 {
                *digits.get(j as usize).unwrap_or(&b'0')
            } else {
                b'0'
            };
            out.push(char::from(d));
        }
    }
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for `e E f F g G`; `prec` None is `-1`.
pub(crate) fn format_float(v: f64, verb: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let abs = v.abs();
    match verb {
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let (digits, dp) = match prec {
                Some(p) => precision_digits(abs, p + 1),
                None => shortest_digits(abs),
            };
            let p = if prec.is_none() {
                digits.len().saturating_sub(1)
            } else {
                p
            };
            fmt_e(&mut out, &digits, dp, p, verb == 'E');
        }
        'f' | 'F' => match prec {
            Some(p) => {
                let _ = write!(out, "{abs:.p$}");
            }
            None => {
                let (digits, dp) = shortest_digits(abs);
                let p = (digits.len() as i32 - dp).max(0) as usize;
                fmt_f(&mut out, &digits, dp, p);
            }
        },
        _ => {
            let shortest = prec.is_none();
            let (digits, dp) = match prec {
                Some(p) => precision_digits(abs, p.max(1)),
                None => shortest_digits(abs),
            };
            let nd = digits.len() as i32;
            let mut p = match prec {
                Some(p) => p.max(1) as i32,
                None => nd,
            };
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &digits, dp, (p - 1).max(0) as usize, verb == 'G');
            } else {
                if p > dp {
                    p = nd;
                }
                fmt_f(&mut out, &digits, dp, (p - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Go's `%v` of a float64 (`%g` with the shortest representation).
pub(crate) fn float_v(v: f64) -> String {
    format_float(v, 'g', None)
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
    plus_v: bool,
    sharp_v: bool,
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_) | Value::Html(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', Flags::default());
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: always spaces, and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', Flags::default());
    }
    out.push('\n');
    out
}

/// `fmt.Sprint` of one value, as a template action prints it.
pub(crate) fn value_string(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', Flags::default());
    out
}

fn pad(out: &mut String, s: &str, f: Flags) {
    let width = f.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

/// Pads a number: zeros go after the sign.
fn pad_number(out: &mut String, s: &str, f: Flags) {
    let width = f.width.unwrap_or(0);
    let len = s.chars().count();
    if !f.zero || f.minus || len >= width {
        pad(out, s, f);
        return;
    }
    let (sign, digits) = match s.chars().next() {
        Some(c @ ('+' | '-' | ' ')) => (Some(c), &s[1..]),
        _ => (None, s),
    };
    if let Some(c) = sign {
        out.push(c);
    }
    out.extend(std::iter::repeat_n('0', width - len));
    out.push_str(digits);
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: Flags) {
    let s: String = match f.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        'q' => {
            let quoted = if f.sharp && can_backquote(&s) {
                format!("`{s}`")
            } else {
                quote_with(&s, '"', f.plus)
            };
            pad(out, &quoted, f);
        }
        'x' | 'X' => {
            let mut hex = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    hex.push(' ');
                }
                if f.sharp && (f.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(hex, "{b:02x}");
                } else {
                    let _ = write!(hex, "{b:02X}");
                }
            }
            pad(out, &hex, f);
        }
        _ => pad(out, &s, f),
    }
}

fn fmt_integer(out: &mut String, v: i128, verb: char, f: Flags) {
    let neg = v < 0;
    let abs = v.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{abs:b}"),
        'o' | 'O' => format!("{abs:o}"),
        'x' => format!("{abs:x}"),
        'X' => format!("{abs:X}"),
        _ => format!("{abs}"),
    };
    if let Some(p) = f.prec {
        if p == 0 && abs == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if f.plus {
        prefix.push('+');
    } else if f.space {
        prefix.push(' ');
    }
    match verb {
        'O' => prefix.push_str("0o"),
        'b' if f.sharp => prefix.push_str("0b"),
        'o' if f.sharp && !digits.starts_with('0') => prefix.push('0'),
        'x' if f.sharp => prefix.push_str("0x"),
        'X' if f.sharp => prefix.push_str("0X"),
        _ => {}
    }
    let width = f.width.unwrap_or(0);
    let zero_pad = f.zero && !f.minus && f.prec.is_none();
    if zero_pad && prefix.len() + digits.len() < width {
        let fill = width - prefix.len() - digits.len();
        out.push_str(&prefix);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(&digits);
        return;
    }
    pad(out, &format!("{prefix}{digits}"), f);
}

fn fmt_float(out: &mut String, v: f64, verb: char, f: Flags) {
    let (verb, prec) = match verb {
        'v' => ('g', f.prec),
        'e' | 'E' | 'f' | 'F' => (verb, Some(f.prec.unwrap_or(6))),
        _ => (verb, f.prec),
    };
    let mut num = format_float(v, verb, prec);
    if f.sharp && verb != 'b' {
        // `%#g` keeps trailing zeros and the point; rare enough to only keep the point.
        if !num.contains(['.', 'e', 'E', 'I', 'N']) {
            num.push('.');
        }
    }
    if v.is_nan() || !num.starts_with(['-', '+']) {
        if f.plus {
            num.insert(0, '+');
        } else if f.space {
            num.insert(0, ' ');
        }
    } else if num.starts_with('+') && !f.plus && !v.is_infinite() {
        num.remove(0);
    }
    if v.is_infinite() || v.is_nan() {
        // Infinities and NaN are not zero padded.
        let f = Flags { zero: false, ..f };
        pad(out, &num, f);
    } else {
        pad_number(out, &num, f);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Invalid | Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(&v.type_name());
            out.push('=');
            print_arg(out, v, 'v', Flags::default());
        }
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value, verb: char, f: Flags) {
    if verb == 'T' {
        let name = match v {
            Value::Invalid | Value::Nil => "<nil>".to_string(),
            _ => v.type_name(),
        };
        pad(out, &name, f);
        return;
    }
    match v {
        Value::Invalid | Value::Nil => {
            if verb == 'v' {
                pad(out, "<nil>", f);
            } else {
                bad_verb(out, v, verb);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) | Value::Int64(i) => fmt_int_verb(out, v, i128::from(*i), verb, f),
        Value::Byte(b) => fmt_int_verb(out, v, i128::from(*b), verb, f),
        Value::Uint(u) => fmt_int_verb(out, v, i128::from(*u), verb, f),
        Value::Float(x) => match verb {
            'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E' => {
                fmt_float(out, *x, verb, f)
            }
            _ => bad_verb(out, v, verb),
        },
        Value::Str(s) | Value::Html(s) => match verb {
            'v' if f.sharp_v => pad(out, &quote(s), f),
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, s, verb, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Time(t) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, &t.to_string(), verb, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Duration(d) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                fmt_string(out, &crate::gotime::duration_string(d.nanos), verb, f)
            }
            'd' => fmt_integer(out, i128::from(d.nanos), verb, f),
            _ => bad_verb(out, v, verb),
        },
        Value::StrMap(m) => {
            if f.sharp_v {
                out.push_str("map[string]string{");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{}:{}", quote(k), quote(val));
                }
                out.push('}');
                return;
            }
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb_for_string(verb), f);
                out.push(':');
                fmt_string(out, val, verb_for_string(verb), f);
            }
            out.push(']');
        }
        Value::AnyMap(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb_for_string(verb), f);
                out.push(':');
                print_arg(out, val, verb, f);
            }
            out.push(']');
        }
        Value::Data(d) => {
            out.push('{');
            let fields: [(&str, Value); 4] = [
                ("Labels", Value::StrMap(d.labels.clone())),
                ("ExternalLabels", Value::StrMap(d.external_labels.clone())),
                ("ExternalURL", Value::Str(d.external_url.clone())),
                ("Value", Value::Float(d.value)),
            ];
            for (i, (name, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus_v || f.sharp_v {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, val, verb, f);
            }
            out.push('}');
        }
        Value::Sample(s) => {
            out.push_str("&{");
            if f.plus_v || f.sharp_v {
                out.push_str("Labels:");
            }
            print_arg(out, &Value::StrMap(s.labels.clone()), verb, f);
            out.push(' ');
            if f.plus_v || f.sharp_v {
                out.push_str("Value:");
            }
            print_arg(out, &Value::Float(s.value), verb, f);
            out.push('}');
        }
        Value::List(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, f);
            }
            out.push(']');
        }
        Value::QueryResult(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, &Value::Sample(s.clone()), verb, f);
            }
            out.push(']');
        }
    }
}

fn verb_for_string(verb: char) -> char {
    match verb {
        'v' | 's' | 'x' | 'X' | 'q' => verb,
        _ => 's',
    }
}

fn fmt_int_verb(out: &mut String, v: &Value, i: i128, verb: char, f: Flags) {
    match verb {
        'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' => fmt_integer(out, i, verb, f),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), f);
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let mut s = String::from("'");
            if c == '\'' {
                s.push_str("\\'");
            } else if c == '"' {
                s.push('"');
            } else {
                escape_rune(&mut s, c, '\'', f.plus);
            }
            s.push('\'');
            pad(out, &s, f);
        }
        'U' => {
            let mut s = format!("U+{:04X}", i);
            if f.sharp {
                if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                    if is_print(c) {
                        let _ = write!(s, " '{c}'");
                    }
                }
            }
            pad(out, &s, f);
        }
        _ => bad_verb(out, v, verb),
    }
}

/// Go's `fmt` refuses widths and precisions above a million.
const MAX_WIDTH: u64 = 1_000_000;

/// `fmt.Sprintf` over template values.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut f = Flags::default();
        while i < chars.len() {
            match chars[i] {
                '#' => f.sharp = true,
                '0' => f.zero = !f.minus,
                '+' => f.plus = true,
                '-' => {
                    f.minus = true;
                    f.zero = false;
                }
                ' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        // Argument index, width, precision.
        let mut good_arg_num = true;
        parse_arg_index(
            &chars,
            &mut i,
            &mut arg_num,
            &mut reordered,
            &mut good_arg_num,
            args.len(),
        );
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(w)) | Some(Value::Int64(w)) if w.unsigned_abs() <= MAX_WIDTH => {
                    if *w < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i > start {
                f.width = chars[start..i].iter().collect::<String>().parse().ok();
                if f.width.is_none_or(|w| w as u64 > MAX_WIDTH) {
                    // Go gives up on the directive: the rest is not read.
                    out.push_str("%!(NOVERB)");
                    break;
                }
            }
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            parse_arg_index(
                &chars,
                &mut i,
                &mut arg_num,
                &mut reordered,
                &mut good_arg_num,
                args.len(),
            );
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(p)) | Some(Value::Int64(p))
                        if *p >= 0 && p.unsigned_abs() <= MAX_WIDTH =>
                    {
                        f.prec = Some(*p as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                let prec = if digits.is_empty() {
                    Some(0)
                } else {
                    digits.parse::<usize>().ok()
                };
                match prec {
                    Some(p) if p as u64 <= MAX_WIDTH => f.prec = Some(p),
                    _ => {
                        out.push_str("%!(NOVERB)");
                        break;
                    }
                }
            }
        }
        parse_arg_index(
            &chars,
            &mut i,
            &mut arg_num,
            &mut reordered,
            &mut good_arg_num,
            args.len(),
        );
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !good_arg_num {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        arg_num += 1;
        if verb == 'v' {
            if f.sharp {
                f.sharp = false;
                f.sharp_v = true;
            }
            if f.plus {
                f.plus = false;
                f.plus_v = true;
            }
        }
        if verb == 'w' {
            bad_verb(&mut out, arg, verb);
            continue;
        }
        print_arg(&mut out, arg, verb, f);
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, arg) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match arg {
                Value::Invalid | Value::Nil => out.push_str("<nil>"),
                _ => {
                    out.push_str(&arg.type_name());
                    out.push('=');
                    print_arg(&mut out, arg, 'v', Flags::default());
                }
            }
        }
        out.push(')');
    }
    out
}

/// Go's `[n]` argument index before a width, precision or verb.
fn parse_arg_index(
    chars: &[char],
    i: &mut usize,
    arg_num: &mut usize,
    reordered: &mut bool,
    good: &mut bool,
    num_args: usize,
) {
    if *i >= chars.len() || chars[*i] != '[' {
        return;
    }
    *reordered = true;
    let Some(close) = chars[*i..].iter().position(|&c| c == ']') else {
        *good = false;
        *i = chars.len();
        return;
    };
    let text: String = chars[*i + 1..*i + close].iter().collect();
    *i += close + 1;
    match text.parse::<usize>() {
        Ok(n) if n >= 1 && n <= num_args => *arg_num = n - 1,
        _ => *good = false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (1.0, "1"),
            (1.5, "1.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (100.0, "100"),
        ];
        for (v, want) in cases {
            assert_eq!(float_v(*v), *want, "{v}");
        }
    }

    #[test]
    fn precision_g_as_humanize_uses_it() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (1.234567, "1.235"),
            (120.0, "120"),
            (123456700.0, "1.235e+08"),
            (-22.222, "-22.22"),
            (12.34567, "12.35"),
            (123.456, "123.5"),
            (9.223372036854776, "9.223"),
            (1000.0, "1000"),
            (10000.0, "1e+04"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float(*v, 'g', Some(4)), *want, "{v}");
        }
    }

    #[test]
    fn printf_verbs() {
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(sprintf("%.2f", &[Value::Float(1.23456)]), "1.23");
        assert_eq!(sprintf("%0.2f", &[Value::Float(3720.01)]), "3720.01");
        assert_eq!(sprintf("%d items", &[Value::Int(5)]), "5 items");
        assert_eq!(
            sprintf(
                "%5d|%-5d|%05d",
                &[Value::Int(42), Value::Int(42), Value::Int(-42)]
            ),
            "   42|42   |-0042"
        );
        assert_eq!(sprintf("%s=%q", &[s("a"), s("b\"c")]), "a=\"b\\\"c\"");
        assert_eq!(
            sprintf(
                "%x %X %#x",
                &[Value::Int(255), Value::Int(255), Value::Int(255)]
            ),
            "ff FF 0xff"
        );
        assert_eq!(sprintf("%x", &[s("hi")]), "6869");
        assert_eq!(
            sprintf("%v %v", &[Value::Float(1e21), Value::Bool(true)]),
            "1e+21 true"
        );
        assert_eq!(sprintf("%e", &[Value::Float(123456.0)]), "1.234560e+05");
        assert_eq!(sprintf("%g", &[Value::Float(0.000012345)]), "1.2345e-05");
        assert_eq!(sprintf("%.3g", &[Value::Float(1234.5)]), "1.23e+03");
        assert_eq!(sprintf("%f", &[Value::Float(f64::INFINITY)]), "+Inf");
        assert_eq!(sprintf("%8.3f|", &[Value::Float(-1.5)]), "  -1.500|");
        assert_eq!(
            sprintf("%+d %+.1f", &[Value::Int(3), Value::Float(2.0)]),
            "+3 +2.0"
        );
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[Value::Float(1.5)]), "%!s(float64=1.5)");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), s("a")]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%6.2f%%", &[Value::Float(99.5)]), " 99.50%");
        assert_eq!(sprintf("%[2]s %[1]s", &[s("a"), s("b")]), "b a");
        assert_eq!(
            sprintf("%T %T", &[Value::Float(1.0), s("")]),
            "float64 string"
        );
        assert_eq!(sprintf("%t", &[Value::Bool(false)]), "false");
        assert_eq!(sprintf("%c%c", &[Value::Int(72), Value::Int(105)]), "Hi");
        assert_eq!(sprintf("%v", &[Value::Nil]), "<nil>");
        assert_eq!(sprintf("%.1s", &[s("héllo")]), "h");
        assert_eq!(sprintf("%-4s|%4s", &[s("ab"), s("cd")]), "ab  |  cd");
        assert_eq!(
            sprintf("%*d", &[Value::Int(1 << 40), Value::Int(1)]),
            "%!(BADWIDTH)1"
        );
        assert_eq!(
            sprintf("%99999999999d", &[Value::Int(1)]),
            "%!(NOVERB)%!(EXTRA int=1)"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\n\u{0}é"), "\"a\\\"b\\n\\x00é\"");
        assert_eq!(quote("\u{a0}"), "\"\\u00a0\"");
    }
}
