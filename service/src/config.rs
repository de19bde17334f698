//! Helpers for the services' documented configuration files, which are written from a
//! commented template with `@NAME@` placeholders filled by TOML values.

/// `text` as a TOML basic string, quoted and escaped (for filling a documented template).
pub fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes_so_that_toml_reads_back_the_same_text() {
        assert_eq!(toml_string("Hà Nội"), "\"Hà Nội\"");
        for text in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak",
            "C:\\data",
        ] {
            let parsed: toml::Table = toml::from_str(&format!("value = {}", toml_string(text)))
                .expect("a quoted string parses");
            assert_eq!(parsed["value"].as_str(), Some(text));
        }
    }
}
