//! How the command-line tools say what went wrong: an error and its causes on one line, each
//! cause once (a message that already includes its cause's text does not repeat it).

/// The error and its causes, joined by ": ", leaving out causes the text already includes.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let message = cause.to_string();
        if !text.contains(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the file failed: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("opening the store failed")]
    struct Adds(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(
            describe(&Repeats(io())),
            "reading the file failed: no such file"
        );
        assert_eq!(
            describe(&Adds(io())),
            "opening the store failed: no such file"
        );
    }
}
