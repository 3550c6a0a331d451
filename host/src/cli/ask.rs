//! Questions for the user at the terminal (overwrite an output file?), refused when stdin is
//! not a terminal: scripts answer with `-y`.

/// Hangar's overwrite question for an output file that exists (skipped with `-y`); a "no" is
/// an error naming the file.
pub fn may_overwrite(path: &std::path::Path, yes: bool) -> anyhow::Result<()> {
    // Only a regular file has content to lose: a device or FIFO (`-o /dev/stdout`) is written.
    if crate::outfile::is_regular_file(path)
        && !yes
        && !confirm(&format!(
            "File {:?} already exists! Overwrite?",
            path.display().to_string()
        ))?
    {
        anyhow::bail!("file {:?} already exists", path.display().to_string());
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; anything but y/Y is no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{question} needs an answer, but stdin is not an interactive terminal (use -y)"
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
