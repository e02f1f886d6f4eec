package sim

import (
	"strings"
	"testing"
)

func TestParseColor(t *testing.T) {
	tests := []struct {
		in      string
		want    rgba
		alpha   bool // the specifier gave its alpha
		used    int
		wantErr string
	}{
		{in: "red", want: rgba{255, 0, 0, 255}, used: 1},
		{in: "Red", want: rgba{255, 0, 0, 255}, used: 1},
		{in: "sky blue atoms", want: rgba{135, 206, 235, 255}, used: 2},
		{in: "light sea green", want: rgba{32, 178, 170, 255}, used: 3},
		{in: "re", want: rgba{102, 51, 153, 255}, used: 1}, // rebeccapurple: the first name that begins so
		{in: "transparent", want: rgba{0, 0, 0, 0}, used: 1},
		{in: "#f00", want: rgba{255, 0, 0, 255}, used: 1},
		{in: "#ff000080", want: rgba{255, 0, 0, 128}, alpha: true, used: 1},
		{in: "#ffff00000000", want: rgba{255, 0, 0, 255}, used: 1},
		{in: "100,50,0", want: rgba{255, 128, 0, 255}, used: 1},
		{in: "100,50,0,50", want: rgba{255, 128, 0, 128}, alpha: true, used: 1},
		{in: "rgb(255, 0, 0) atoms", want: rgba{255, 0, 0, 255}, used: 3},
		{in: "rgb(100%,0%,0%)", want: rgba{255, 0, 0, 255}, used: 1},
		{in: "rgba(255,0,0,0.5)", want: rgba{255, 0, 0, 128}, alpha: true, used: 1},
		{in: "hsl(120, 100%, 50%)", want: rgba{0, 255, 0, 255}, used: 3},
		{in: "gray(50%)", want: rgba{128, 128, 128, 255}, used: 1},
		{in: "nosuchcolor", wantErr: "Invalid color name or specifier"},
		{in: "#ggg", wantErr: `Color name or specifier "#ggg" is not a hex color`},
		{in: "#12345", wantErr: `Color name or specifier "#12345" is not a hex color`},
		{in: "1,2", wantErr: "Color must be 3 or 4 comma-separated numbers 0-100"},
		{in: "rgb(1,2)", wantErr: "Wrong number of components for rgb specifier"},
	}
	for _, tt := range tests {
		var tokens []token
		for _, w := range strings.Fields(tt.in) {
			tokens = append(tokens, token{value: w})
		}
		c, used, err := parseColor(tokens)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseColor(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || c.rgba != tt.want || c.explicitAlpha != tt.alpha || used != tt.used {
			t.Errorf("parseColor(%q) = %v alpha %v, %d tokens, %v; want %v alpha %v, %d", tt.in, c.rgba, c.explicitAlpha, used, err, tt.want, tt.alpha, tt.used)
		}
	}
}

func TestDefaultColors(t *testing.T) {
	black, tan := rgba{0, 0, 0, 255}, rgba{210, 180, 140, 255}
	if got := modelColor(1, black); got != tan {
		t.Errorf("modelColor(1) = %v, want tan", got)
	}
	if got := modelColor(1, tan); got == tan {
		t.Error("modelColor(1) on a tan background is tan")
	}
	if modelColor(11, black) != modelColor(11, black) || modelColor(11, black) == modelColor(12, black) {
		t.Error("model colours beyond the tenth are not stable and distinct")
	}
	if got := chainColor("A"); got != (rgba{123, 104, 238, 255}) {
		t.Errorf("chainColor(A) = %v", got)
	}
	if got := elementColor("O"); got != (rgba{255, 13, 13, 255}) {
		t.Errorf("elementColor(O) = %v", got)
	}
	if got := elementColor("Uuo"); got != (rgba{180, 180, 180, 255}) {
		t.Errorf("elementColor(Uuo) = %v, want light gray", got)
	}
}
