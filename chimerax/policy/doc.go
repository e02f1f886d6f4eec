// Package policy decides which ChimeraX command lines a session's owner may
// send. It is pure: no I/O, no state; Check reads a line, and either returns
// the commands to send, normalized, or refuses the line.
//
// Check reads a line the way ChimeraX's command parser does
// (core/commands/cli.py), but more strictly: whatever ChimeraX would read
// differently, or differently between versions, is refused rather than
// guessed at. The rules:
//
//   - Commands are separated by ';' outside quoted text; empty commands are
//     dropped. Tokens are separated by spaces, tabs, CR and LF. ChimeraX's
//     REST server reads a line break as a space, so "view\nrunscript x" is
//     one command there but two to a reader expecting script lines: a line
//     break between two tokens of one command is refused as ambiguous. Line
//     breaks next to ';' or at either end of the line are fine.
//   - A token starting with a double or single quote runs to the next quote
//     of the same kind, which must be followed by whitespace or the end of
//     the line. Refused as malformed: an unbalanced quote; a closing quote
//     directly followed by ';' (ChimeraX releases disagree on where that
//     token ends) or by any other character; a quote inside an unquoted
//     word; a line break inside quotes.
//   - A command whose first character is '#' is a comment running to the end
//     of the whole line, across ';' and newlines, as in ChimeraX. It and
//     everything after it are dropped from the result, so none of it is sent.
//   - Refused anywhere in the line: control characters other than tab, LF and
//     CR (NUL included); backslashes (ChimeraX expands Python escapes such as
//     \x3b in quoted text); non-ASCII spaces and invisible format characters
//     (ChimeraX's Python tokenizer splits words on Unicode spaces); invalid
//     UTF-8; lines over 64 KiB.
//   - The first word of each command must be on Allow exactly: ChimeraX
//     command names are lowercase and case-sensitive, so "VIEW" is not
//     "view". A word that abbreviates a never-allowed command or one of the
//     commands whose arguments Check parses itself (open, save, info) is
//     refused even if listed, because ChimeraX completes prefixes ("runs"
//     runs runscript). Words in neverAllow are refused whatever Allow says.
//   - Arguments of every command may not contain "__" (Python attribute
//     names), '{' or '}' (Python format fields), or mix '_' with non-ASCII
//     letters (ChimeraX capitalizes after '_' with Unicode rules when it
//     matches keywords). Outside open and save, no argument may abbreviate
//     the saveFile keyword (s, sav, save_f, saveFile...: info, hbonds and
//     contacts write files with it, distance save likewise).
//   - info may not be followed by an abbreviation of notify (network
//     callbacks); color may not be followed by an abbreviation of image (reads
//     an image file); label arguments may not abbreviate font (a font file
//     path).
//   - open takes exactly one source and the keywords format, name, from and
//     fromDatabase, spelled in full. The source is a PDB id (1abc, 8-character
//     00001abc, pdb_00001abc, each optionally as pdb:ID) or a file (see
//     below). PDB opens are rewritten to
//     "open ID from pdb", so ChimeraX never looks for a local file of that
//     name. format is pdb or mmcif for ids, and must match the suffix for files.
//   - save takes exactly one file with suffix .png, .jpg, .cxs, .pdb or .cif,
//     and the keywords width and height (1 to 4096), supersample (1 to 4),
//     transparentBackground (true or false), all for images only, and format
//     (png, jpeg, session, pdb or mmcif, matching the suffix).
//
// Files for open and save are checked without touching the file system: no
// '~' or '$' (ChimeraX expands both), no wildcards (open expands them), no
// ':' (URLs and database prefixes), no ".." and no hidden names; relative
// names are taken relative to the session directory; after filepath.Clean
// the path must lie inside it. open takes .pdb, .ent, .cif, .mmcif, .sdf,
// .mol and .mol2, each optionally .gz, and .cxs session files; the command
// sent names the cleaned absolute path. Symbolic links are not resolved:
// chimerad creates none in session directories, and nothing else may.
//
// Session files (.cxs) are allowed because in a session directory they are
// ChimeraX's own output (chimerad's checkpoints, or save); opening an
// untrusted .cxs is a risk (docs/chimerax-protocol.md), so no other way of putting
// files into a session directory may accept that suffix.
package policy
