package sim

import (
	"reflect"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		args    []string
		want    options
		wantErr string
	}{
		{args: nil, want: options{eventLoop: true, version: -1}},
		{
			args: []string{"--nogui", "--offscreen", "--nocolor", "--cmd", "remotecontrol rest start port 0 json true"},
			want: options{offscreen: true, color: &no, eventLoop: true, version: -1,
				commands: []string{"remotecontrol rest start port 0 json true"}},
		},
		{
			args: []string{"--cmd=a", "--cmd", "b", "--script", "s.py x", "--color", "--silent", "--exit"},
			want: options{commands: []string{"a", "b"}, scripts: []string{"s.py x"}, color: &yes, silent: true, version: -1},
		},
		{args: []string{"--nog", "--offs", "--nostat", "--notools"}, want: options{offscreen: true, eventLoop: true, version: -1}},
		{args: []string{"--version", "--version"}, want: options{eventLoop: true, version: 1}},
		{args: []string{"--silent", "--version"}, want: options{eventLoop: true, version: 0}},
		{args: []string{"--exit", "--noexit"}, want: options{eventLoop: true, version: -1}},
		{
			args: []string{"--nogui", "a.pdb", "--cmd", "x"},
			want: options{eventLoop: true, version: -1, files: []string{"a.pdb", "--cmd", "x"}},
		},
		{args: []string{"--", "--nogui"}, want: options{eventLoop: true, version: -1, files: []string{"--nogui"}}},
		{args: []string{"--bogus"}, wantErr: "option --bogus not recognized"},
		{args: []string{"--nogui", "-x"}, wantErr: "option -x not recognized"},
		{args: []string{"--no"}, wantErr: "option --no not a unique prefix"},
		{args: []string{"--nous"}, wantErr: "option --nous not a unique prefix"},
		{args: []string{"--cmd"}, wantErr: "option --cmd requires argument"},
		{args: []string{"--nogui=1"}, wantErr: "option --nogui must not have an argument"},
		{args: []string{"--help"}, wantErr: "help"},
		{args: []string{"-m", "pip"}, wantErr: "Python command line arguments are not supported by the chimerad simulator"},
		{
			args: []string{"--chimerax-version", "1.8", "--nogui"},
			want: options{eventLoop: true, version: -1, chimeraxVersion: "1.8"},
		},
		{args: []string{"--chimerax-version=1.9"}, want: options{eventLoop: true, version: -1, chimeraxVersion: "1.9"}},
		{args: []string{"--chimerax-version", "2.0"}, wantErr: "option --chimerax-version 2.0: want 1.8, 1.9, 1.10 or 1.11"},
	}
	for _, tt := range tests {
		got, err := parseOptions(tt.args)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseOptions(%q) error = %v, want %s", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseOptions(%q) = %+v, %v, want %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestKnobsFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    knobs
		wantErr string
	}{
		{env: nil, want: knobs{crashAfter: -1, version: "1.11"}},
		{
			env: map[string]string{
				"CHIMERAX_SIM_FETCH_CACHE": "/c", "CHIMERAX_SIM_START_DELAY": "2s", "CHIMERAX_SIM_NO_PORT": "1",
				"CHIMERAX_SIM_CRASH_AFTER": "0", "CHIMERAX_SIM_HANG_ON": "open", "CHIMERAX_SIM_SLOW": "10ms",
				"CHIMERAX_SIM_IGNORE_SIGTERM": "true", "CHIMERAX_SIM_FLOOD": "1048576", "CHIMERAX_SIM_VERSION": "1.10",
			},
			want: knobs{
				fetchCache: "/c", startDelay: 2 * time.Second, noPort: true, crashAfter: 0, hangOn: "open",
				slow: 10 * time.Millisecond, ignoreSIGTERM: true, flood: 1 << 20, version: "1.10",
			},
		},
		{env: map[string]string{"CHIMERAX_SIM_NO_PORT": "0"}, want: knobs{crashAfter: -1, version: "1.11"}},
		{env: map[string]string{"CHIMERAX_SIM_START_DELAY": "5"}, wantErr: `CHIMERAX_SIM_START_DELAY="5": want a duration such as 500ms`},
		{env: map[string]string{"CHIMERAX_SIM_SLOW": "-1s"}, wantErr: `CHIMERAX_SIM_SLOW="-1s": want a duration such as 500ms`},
		{env: map[string]string{"CHIMERAX_SIM_NO_PORT": "yes"}, wantErr: `CHIMERAX_SIM_NO_PORT="yes": want 1 or 0`},
		{env: map[string]string{"CHIMERAX_SIM_CRASH_AFTER": "-1"}, wantErr: `CHIMERAX_SIM_CRASH_AFTER="-1": want a number of commands`},
		{env: map[string]string{"CHIMERAX_SIM_FLOOD": "1MB"}, wantErr: `CHIMERAX_SIM_FLOOD="1MB": want a number of bytes`},
		{env: map[string]string{"CHIMERAX_SIM_VERSION": "1.7"}, wantErr: `CHIMERAX_SIM_VERSION="1.7": want 1.8, 1.9, 1.10 or 1.11`},
		{
			env: map[string]string{
				"CHIMERAX_SIM_CRASH_ON": "color", "CHIMERAX_SIM_SLOW": "1s", "CHIMERAX_SIM_SLOW_ON": "save",
				"CHIMERAX_SIM_LEAK": "1024", "CHIMERAX_SIM_LEAK_ON": "open",
			},
			want: knobs{crashAfter: -1, crashOn: "color", slow: time.Second, slowOn: "save", leak: 1024, leakOn: "open", version: "1.11"},
		},
		{env: map[string]string{"CHIMERAX_SIM_SLOW_ON": "save"}, wantErr: `CHIMERAX_SIM_SLOW_ON="save" needs CHIMERAX_SIM_SLOW=d`},
		{env: map[string]string{"CHIMERAX_SIM_LEAK_ON": "open"}, wantErr: `CHIMERAX_SIM_LEAK_ON="open" needs CHIMERAX_SIM_LEAK=n`},
		{env: map[string]string{"CHIMERAX_SIM_LEAK": "64MiB"}, wantErr: `CHIMERAX_SIM_LEAK="64MiB": want a number of bytes`},
	}
	for _, tt := range tests {
		got, err := knobsFromEnv(func(k string) string { return tt.env[k] })
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("knobsFromEnv(%v) error = %v, want %s", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("knobsFromEnv(%v) = %+v, %v, want %+v", tt.env, got, err, tt.want)
		}
	}
}
