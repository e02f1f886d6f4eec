package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// addPolicySeeds adds every line of the policy tables, and a few more, to
// f's seed corpus.
func addPolicySeeds(f *testing.F) {
	for _, tc := range policyAllowedCases {
		f.Add(policyLine(tc.line))
	}
	for _, tc := range policyRefusedCases {
		if len(tc.line) <= 4096 {
			f.Add(policyLine(tc.line))
		}
	}
	for _, s := range []string{
		`open "x y.pdb" ; save 'a b.png' width 10`,
		"view;;\t;#\n",
		`label #1 text "a'b" ; label #2 text 'a"b'`,
		"select ::name=\"ALA\"",
	} {
		f.Add(s)
	}
}

// FuzzTokenize checks that the tokenizer never panics and that what it
// accepts survives a round trip: each command's normalized text reads back
// as exactly that command, and the commands joined with " ; " read back as
// the same commands.
func FuzzTokenize(f *testing.F) {
	addPolicySeeds(f)
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := cliTokenize(line)
		if err != nil {
			return
		}
		var texts []string
		for _, cmd := range cmds {
			if len(cmd) == 0 {
				t.Fatalf("cliTokenize(%q) gave an empty command", line)
			}
			if cmd[0].quote == 0 && strings.HasPrefix(cmd[0].text, "#") {
				t.Fatalf("cliTokenize(%q) gave a command starting with a comment: %q", line, cmd[0].text)
			}
			for _, tok := range cmd {
				if tok.quote == 0 && (tok.text == "" || strings.ContainsAny(tok.text, " \t\n\r;\"'")) {
					t.Fatalf("cliTokenize(%q) gave a bare token %q that needs quotes", line, tok.text)
				}
				if tok.quote != 0 && strings.IndexByte(tok.text, tok.quote) >= 0 {
					t.Fatalf("cliTokenize(%q) gave a quoted token %q holding its quote", line, tok.text)
				}
			}
			text := cliJoin(cmd)
			again, err := cliTokenize(text)
			if err != nil || len(again) != 1 || !slices.Equal(again[0], cmd) {
				t.Fatalf("cliTokenize(%q) = %v, %v; want [%v] (from %q)", text, again, err, cmd, line)
			}
			texts = append(texts, text)
		}
		joined := strings.Join(texts, " ; ")
		again, err := cliTokenize(joined)
		if err != nil || !slices.EqualFunc(again, cmds, slices.Equal) {
			t.Fatalf("cliTokenize(%q) = %v, %v; want %v", joined, again, err, cmds)
		}
	})
}

// FuzzPolicyCheck checks Check's promises on arbitrary lines: no panic;
// refusals wrap ErrRefused; every allowed command reads back as exactly one
// command (so it holds no bare ';' and starts no comment), starts with an
// allowed word that is not never-allowed, is unchanged by a second Check, and
// opens or saves only inside the session directory.
func FuzzPolicyCheck(f *testing.F) {
	addPolicySeeds(f)
	p := Policy{Allow: DefaultAllow}
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := p.Check(line, policyTestDir)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Check(%q) error %v, want ErrRefused", line, err)
			}
			return
		}
		for _, c := range cmds {
			toks, err := cliTokenize(c)
			if err != nil || len(toks) != 1 {
				t.Fatalf("Check(%q) allowed %q, which reads back as %v, %v", line, c, toks, err)
			}
			cmd := toks[0]
			word := cmd[0].text
			if cmd[0].quote != 0 || !slices.Contains(DefaultAllow, word) {
				t.Fatalf("Check(%q) allowed %q, starting with %v", line, c, cmd[0])
			}
			if _, ok := neverAllow[strings.ToLower(word)]; ok {
				t.Fatalf("Check(%q) allowed never-allowed %q", line, c)
			}
			if again, err := p.Check(c, policyTestDir); err != nil || !slices.Equal(again, []string{c}) {
				t.Fatalf("Check(%q) = %q, %v; want it unchanged (from %q)", c, again, err, line)
			}
			fetch := word == "open" && len(cmd) >= 4 && cmd[2].text == "from" && cmd[3].text == "pdb"
			if (word == "open" && !fetch) || word == "save" {
				path := cmd[1].text
				if !strings.HasPrefix(path, policyTestDir+"/") || slices.Contains(strings.Split(path, "/"), "..") ||
					strings.ContainsAny(path, "~$*?[]:") {
					t.Fatalf("Check(%q) allowed %q, with a path outside the session directory", line, c)
				}
			}
			if fetch {
				if _, ok := pdbSourceID(cmd[1].text); !ok {
					t.Fatalf("Check(%q) allowed %q, fetching a bad PDB id", line, c)
				}
			}
			for _, tok := range cmd[1:] {
				if strings.Contains(tok.text, "__") || strings.ContainsAny(tok.text, "{}\\") {
					t.Fatalf("Check(%q) allowed %q, with argument %q", line, c, tok.text)
				}
				if word != "open" && word != "save" && abbreviates(tok.text, "savefile") {
					t.Fatalf("Check(%q) allowed %q, which abbreviates saveFile", line, c)
				}
			}
		}
		joined := strings.Join(cmds, " ; ")
		if again, err := p.Check(joined, policyTestDir); err != nil || !slices.Equal(again, cmds) {
			t.Fatalf("Check(%q) = %q, %v; want %q", joined, again, err, cmds)
		}
	})
}
