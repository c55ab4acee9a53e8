//! The terminal side of `qun chat`: line editing (rustyline) with incoming lines printed above
//! the prompt; or, when stdin or stdout is not a terminal (piped input, a log file), plain
//! line reading and printing without a prompt.
//!
//! Two threads, not the runtime's blocking pool: a read blocked on the terminal must not hold
//! up the runtime's shutdown. The reader reads a line only when the chat is ready for one
//! (after [`Screen::ready`]), so a line typed after `/switch` goes where the switch went.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rustyline::ExternalPrinter;
use tokio::sync::mpsc;

use super::Screen;

/// How long the line editor gets to show the last lines when the chat ends during an edit.
const LAST_LINES_SHOWN: Duration = Duration::from_millis(50);

/// The terminal of one `qun chat`: where to print (the typed lines come out of the channel
/// [`open`] returns with it).
pub(crate) struct Terminal {
    pub(crate) screen: Arc<dyn Screen>,
    /// The thread that prints, joined at the end so that no line is lost.
    printer: std::thread::JoinHandle<()>,
    /// For the line editor: the terminal mode to restore if the chat ends during an edit.
    editor: Option<EditorState>,
}

struct EditorState {
    saved_mode: nix::sys::termios::Termios,
    /// Whether a line is being edited (the terminal is in raw mode).
    editing: Arc<AtomicBool>,
}

/// The terminal, with line editing when both stdin and stdout are terminals, and the typed
/// lines.
pub(crate) fn open() -> (Terminal, mpsc::Receiver<String>) {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive && let Ok(terminal) = line_editor() {
        return terminal;
    }
    plain()
}

impl Terminal {
    /// Shows what is still queued for the screen and gives the terminal back as it was.
    pub(crate) fn close(self) {
        let Terminal { screen, printer, editor } = self;
        // The last screen handle: dropping it ends the printer thread once it has handed on
        // every line.
        drop(screen);
        let _ = printer.join();
        let Some(editor) = editor else { return };
        if editor.editing.load(Ordering::SeqCst) {
            // The chat ended while a line was edited (a kick, a signal): the editor will not
            // return, so the process ends with it waiting; let it show the last lines, then put
            // the terminal back in the mode it had and end its line.
            std::thread::sleep(LAST_LINES_SHOWN);
            let _ =
                nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &editor.saved_mode);
            println!();
        }
    }
}

/// Where the two threads of a terminal are told what to do.
struct ThreadScreen {
    printed: std_mpsc::Sender<String>,
    prompts: std_mpsc::Sender<String>,
}

impl Screen for ThreadScreen {
    fn print(&self, text: &str) {
        let _ = self.printed.send(text.to_owned());
    }

    fn ready(&self, prompt: &str) {
        let _ = self.prompts.send(prompt.to_owned());
    }
}

fn line_editor() -> rustyline::Result<(Terminal, mpsc::Receiver<String>)> {
    let saved_mode = nix::sys::termios::tcgetattr(std::io::stdin())?;
    let config = rustyline::Config::builder().auto_add_history(true).max_history_size(1_000)?.build();
    let mut editor = rustyline::DefaultEditor::with_config(config)?;
    let mut external = editor.create_external_printer()?;
    let editing = Arc::new(AtomicBool::new(false));

    let (printed, to_print) = std_mpsc::channel::<String>();
    let printer = std::thread::spawn(move || {
        for text in to_print {
            // Above the line being edited, or straight out when no line is.
            if external.print(format!("{text}\n")).is_err() {
                println!("{text}");
            }
        }
    });

    let (prompts, prompt_wanted) = std_mpsc::channel::<String>();
    let (typed, lines) = mpsc::channel(1);
    let reading = editing.clone();
    std::thread::spawn(move || {
        for prompt in prompt_wanted {
            reading.store(true, Ordering::SeqCst);
            let line = editor.readline(&prompt);
            reading.store(false, Ordering::SeqCst);
            // Ctrl-D and Ctrl-C end the input, as does any terminal error: the chat then
            // sends what waits and leaves.
            let Ok(line) = line else { break };
            if typed.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let screen = Arc::new(ThreadScreen { printed, prompts });
    Ok((Terminal { screen, printer, editor: Some(EditorState { saved_mode, editing }) }, lines))
}

fn plain() -> (Terminal, mpsc::Receiver<String>) {
    let (printed, to_print) = std_mpsc::channel::<String>();
    let printer = std::thread::spawn(move || {
        for text in to_print {
            println!("{text}");
        }
    });
    let (prompts, prompt_wanted) = std_mpsc::channel::<String>();
    let (typed, lines) = mpsc::channel(1);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        for _prompt in prompt_wanted {
            let mut line = String::new();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if typed.blocking_send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (Terminal { screen: Arc::new(ThreadScreen { printed, prompts }), printer, editor: None }, lines)
}
