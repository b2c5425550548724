//! Standard output that ends quietly when the reader goes away.
//!
//! `println!` panics when stdout is a closed pipe (`hutong audit history …
//! | head`). Every command prints through [`say!`] instead: a closed pipe
//! ends the process at once with status 0, as the reader asked for no
//! more; any other write error is reported and ends it with status 1.

use std::io::{ErrorKind, Write};

/// Writes `args` to stdout, or ends the process if stdout is gone.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        exit_on(&e);
    }
}

/// Ends the process for a failed stdout write: quietly for a closed pipe.
pub fn exit_on(e: &std::io::Error) -> ! {
    if e.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// `println!` that ends the process quietly on a closed pipe.
macro_rules! say {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that ends the process quietly on a closed pipe.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

pub(crate) use {say, say_raw};
