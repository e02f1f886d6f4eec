package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file is colours as ChimeraX names and computes them: the CSS colour
// names of its ColorArg (core/commands/colorarg.py), the special colourings
// of the color command ("byelement", "bychain", ...), and the default
// colours of elements, chains and models (atomic/colors.py).

// rgba is a colour with straight alpha, 0-255 per channel, as ChimeraX keeps
// colours (uint8x4).
type rgba [4]uint8

// opaque returns c with full alpha.
func (c rgba) opaque() rgba { c[3] = 255; return c }

// hex is c as ChimeraX's hex_color writes it: #rrggbb, or #rrggbbaa when it
// is not opaque.
func (c rgba) hex() string {
	if c[3] == 255 {
		return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
	}
	return fmt.Sprintf("#%02x%02x%02x%02x", c[0], c[1], c[2], c[3])
}

// colorValue is a parsed color argument: a colour, or one of the color
// command's special colourings.
type colorValue struct {
	rgba          rgba
	explicitAlpha bool   // the specifier gave an alpha ("#ff000080", rgba(...)), which then sets transparency
	scheme        string // "byelement", "bychain", ...; "" for a plain colour
}

// colorSchemes are the color command's special colourings, sorted, as its
// EnumOf lists them.
var colorSchemes = []string{"byatom", "bychain", "byelement", "byhetero", "byidentity", "bymodel",
	"bynucleotide", "bypolymer", "fromatoms", "fromcartoons", "fromribbons", "random"}

// parseColor reads a colour from the start of tokens as ColorArg does: a
// CSS colour name, possibly of several words ("sky blue") and possibly
// abbreviated (the first name in alphabetical order that the word
// begins), a hex specifier (#f00, #ff0000, #ff000080, ...), 3 or 4
// comma-separated percentages ("100,0,0"), or rgb(), rgba(), hsl(), hsla()
// or gray() with their numbers. It returns the colour and how many tokens
// it used.
func parseColor(tokens []token) (colorValue, int, error) {
	if len(tokens) == 0 || tokens[0].value == "" {
		return colorValue{}, 0, errors.New("Missing color name or specifier")
	}
	text := tokens[0].value
	switch {
	case text[0] == '#':
		c, alpha, err := parseHexColor(text[1:])
		return colorValue{rgba: c, explicitAlpha: alpha}, 1, err
	case text[0] >= '0' && text[0] <= '9':
		c, alpha, err := parsePercentColor(text)
		return colorValue{rgba: c, explicitAlpha: alpha}, 1, err
	}
	lower := strings.ToLower(text)
	for _, fn := range []string{"rgba", "rgb", "hsla", "hsl", "gray"} {
		if strings.HasPrefix(lower, fn+"(") || lower == fn && len(tokens) > 1 && strings.HasPrefix(tokens[1].value, "(") {
			return parseColorFunction(fn, tokens)
		}
	}
	// The longest run of up to three words that names a colour.
	for n := min(3, len(tokens)); n > 1; n-- {
		var joined strings.Builder
		for _, t := range tokens[:n] {
			joined.WriteString(strings.ToLower(t.value))
		}
		if c, ok := cssColors[joined.String()]; ok {
			return colorValue{rgba: c}, n, nil
		}
	}
	if name, ok := completeColorName(lower); ok {
		return colorValue{rgba: cssColors[name]}, 1, nil
	}
	return colorValue{}, 0, errors.New("Invalid color name or specifier")
}

// completeColorName finds the colour name word is, or else the first in
// alphabetical order that it begins.
func completeColorName(word string) (string, bool) {
	if _, ok := cssColors[word]; ok {
		return word, true
	}
	i, _ := slices.BinarySearch(colorNames, word)
	if i < len(colorNames) && strings.HasPrefix(colorNames[i], word) {
		return colorNames[i], true
	}
	return "", false
}

// parseHexColor reads the digits after "#": 3 or 6 (or 12) for RGB, 4 or 8
// (or 16) with alpha.
func parseHexColor(digits string) (rgba, bool, error) {
	bad := fmt.Errorf("Color name or specifier \"#%s\" is not a hex color", digits)
	per := map[int]int{3: 1, 4: 1, 6: 2, 8: 2, 12: 4, 16: 4}[len(digits)]
	if per == 0 {
		return rgba{}, false, bad
	}
	n := len(digits) / per
	c := rgba{0, 0, 0, 255}
	for i := range n {
		v, err := strconv.ParseUint(digits[i*per:(i+1)*per], 16, 16)
		if err != nil {
			return rgba{}, false, bad
		}
		maxV := float64(uint64(1)<<(4*per) - 1)
		c[i] = uint8(math.Round(float64(v) / maxV * 255))
	}
	return c, n == 4, nil
}

// parsePercentColor reads "r,g,b" or "r,g,b,a", each 0 to 100.
func parsePercentColor(text string) (rgba, bool, error) {
	bad := errors.New("Color must be 3 or 4 comma-separated numbers 0-100")
	parts := strings.Split(text, ",")
	if len(parts) != 3 && len(parts) != 4 {
		return rgba{}, false, bad
	}
	c := rgba{0, 0, 0, 255}
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !finite(f) {
			return rgba{}, false, bad
		}
		c[i] = unit8(f / 100)
	}
	return c, len(parts) == 4, nil
}

// parseColorFunction reads rgb(...), rgba(...), hsl(...), hsla(...) or
// gray(...), whose numbers may be spread over several tokens.
func parseColorFunction(fn string, tokens []token) (colorValue, int, error) {
	var text strings.Builder
	n := 0
	for n < len(tokens) {
		text.WriteString(tokens[n].value)
		n++
		if strings.Contains(tokens[n-1].value, ")") {
			break
		}
	}
	s := strings.TrimSpace(text.String())
	open, close := strings.IndexByte(s, '('), strings.IndexByte(s, ')')
	if close < 0 || close != len(s)-1 {
		return colorValue{}, 0, errors.New("Invalid color name or specifier")
	}
	var nums []string
	for _, f := range strings.Split(s[open+1:close], ",") {
		nums = append(nums, strings.TrimSpace(f))
	}
	want := map[string][]int{"rgb": {3}, "rgba": {4}, "hsl": {3}, "hsla": {4}, "gray": {1, 2}}[fn]
	if !slices.Contains(want, len(nums)) {
		return colorValue{}, 0, fmt.Errorf("Wrong number of components for %s specifier", fn)
	}
	v := make([]float64, len(nums))
	for i, num := range nums {
		f, percent, err := colorNumber(num)
		if err != nil {
			return colorValue{}, 0, err
		}
		isAlpha := (fn == "rgba" || fn == "hsla") && i == 3 || fn == "gray" && i == 1
		switch {
		case percent:
			f /= 100
		case fn[0] == 'h' && i == 0:
			f /= 360 // a hue in degrees
		case fn[0] == 'h' || isAlpha:
			// saturation, lightness and alpha are fractions
		default:
			f /= 255
		}
		v[i] = f
	}
	c := colorValue{explicitAlpha: len(nums) == 4 || fn == "gray" && len(nums) == 2}
	switch fn {
	case "gray":
		c.rgba = rgba{unit8(v[0]), unit8(v[0]), unit8(v[0]), 255}
		if len(v) == 2 {
			c.rgba[3] = unit8(v[1])
		}
	case "rgb", "rgba":
		c.rgba = rgba{unit8(v[0]), unit8(v[1]), unit8(v[2]), 255}
	default:
		r, g, b := hslToRGB(v[0], v[1], v[2])
		c.rgba = rgba{unit8(r), unit8(g), unit8(b), 255}
	}
	if len(v) == 4 {
		c.rgba[3] = unit8(v[3])
	}
	return c, n, nil
}

// colorNumber reads a number of a colour function, with an optional "%".
func colorNumber(s string) (f float64, percent bool, err error) {
	s, percent = strings.CutSuffix(s, "%")
	s, _ = strings.CutSuffix(s, "deg")
	f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !finite(f) {
		return 0, false, fmt.Errorf("Invalid color component %q", s)
	}
	return f, percent, nil
}

// hslToRGB is Python's colorsys.hls_to_rgb with the arguments in CSS order.
func hslToRGB(h, s, l float64) (r, g, b float64) {
	if s == 0 {
		return l, l, l
	}
	m2 := l + s - l*s
	if l <= 0.5 {
		m2 = l * (1 + s)
	}
	m1 := 2*l - m2
	hue := func(h float64) float64 {
		h -= math.Floor(h)
		switch {
		case h < 1.0/6:
			return m1 + (m2-m1)*h*6
		case h < 0.5:
			return m2
		case h < 2.0/3:
			return m1 + (m2-m1)*(2.0/3-h)*6
		}
		return m1
	}
	return hue(h + 1.0/3), hue(h), hue(h - 1.0/3)
}

// unit8 maps a fraction 0-1 to 0-255, clamped.
func unit8(f float64) uint8 { return uint8(math.Round(min(max(f, 0), 1) * 255)) }

// elementRGB are the Jmol colours ChimeraX gives elements (atomic/colors.py);
// any other element is light gray (180, 180, 180).
var elementRGB = map[string]rgba{
	"H": {255, 255, 255, 255}, "He": {217, 255, 255, 255}, "Li": {204, 128, 255, 255}, "Be": {194, 255, 0, 255},
	"B": {255, 181, 181, 255}, "C": {144, 144, 144, 255}, "N": {48, 80, 248, 255}, "O": {255, 13, 13, 255},
	"F": {144, 224, 80, 255}, "Ne": {179, 227, 245, 255}, "Na": {171, 92, 242, 255}, "Mg": {138, 255, 0, 255},
	"Al": {191, 166, 166, 255}, "Si": {240, 200, 160, 255}, "P": {255, 128, 0, 255}, "S": {255, 255, 48, 255},
	"Cl": {31, 240, 31, 255}, "Ar": {128, 209, 227, 255}, "K": {143, 64, 212, 255}, "Ca": {61, 255, 0, 255},
	"Sc": {230, 230, 230, 255}, "Ti": {191, 194, 199, 255}, "V": {166, 166, 171, 255}, "Cr": {138, 153, 199, 255},
	"Mn": {156, 122, 199, 255}, "Fe": {224, 102, 51, 255}, "Co": {240, 144, 160, 255}, "Ni": {80, 208, 80, 255},
	"Cu": {200, 128, 51, 255}, "Zn": {125, 128, 176, 255}, "Ga": {194, 143, 143, 255}, "Ge": {102, 143, 143, 255},
	"As": {189, 128, 227, 255}, "Se": {255, 161, 0, 255}, "Br": {166, 41, 41, 255}, "Kr": {92, 184, 209, 255},
	"Sr": {0, 255, 0, 255}, "Ag": {192, 192, 192, 255}, "Cd": {255, 217, 143, 255}, "I": {148, 0, 148, 255},
	"Xe": {66, 158, 176, 255}, "Cs": {87, 23, 143, 255}, "Ba": {0, 201, 0, 255}, "Pt": {208, 208, 224, 255},
	"Au": {255, 209, 35, 255}, "Hg": {184, 184, 208, 255}, "Pb": {87, 89, 97, 255},
}

// elementColor is the colour ChimeraX gives an element.
func elementColor(element string) rgba {
	if c, ok := elementRGB[element]; ok {
		return c
	}
	return rgba{180, 180, 180, 255}
}

// chainRGB are ChimeraX's chain colours, by lower-cased chain id.
var chainRGB = map[string]rgba{
	"a": {123, 104, 238, 255}, "b": {240, 128, 128, 255}, "c": {143, 188, 143, 255}, "d": {222, 184, 135, 255},
	"e": {255, 127, 80, 255}, "f": {128, 128, 128, 255}, "g": {107, 142, 35, 255}, "h": {100, 100, 100, 255},
	"i": {52, 231, 123, 255}, "j": {55, 19, 112, 255}, "k": {255, 255, 150, 255}, "l": {202, 62, 94, 255},
	"m": {205, 145, 63, 255}, "n": {183, 118, 231, 255}, "o": {110, 251, 201, 255}, "p": {175, 155, 50, 255},
	"q": {105, 205, 48, 255}, "r": {37, 70, 25, 255}, "s": {121, 33, 135, 255}, "t": {83, 140, 208, 255},
	"u": {0, 154, 37, 255}, "v": {178, 220, 205, 255}, "w": {255, 152, 213, 255}, "x": {200, 90, 174, 255},
	"y": {175, 200, 74, 255}, "z": {63, 25, 12, 255}, "1": {87, 87, 87, 255}, "2": {129, 215, 234, 255},
	"3": {102, 242, 126, 255}, "4": {29, 105, 20, 255}, "5": {129, 74, 25, 255}, "6": {129, 38, 192, 255},
	"7": {160, 160, 160, 255}, "8": {129, 197, 122, 255}, "9": {157, 175, 255, 255}, "0": {41, 208, 208, 255},
}

// chainColor is the colour ChimeraX gives a chain; ids not in its table
// get a light colour of their own (ChimeraX seeds Python's random with the
// id; the simulator hashes it).
func chainColor(id string) rgba {
	if c, ok := chainRGB[strings.ToLower(id)]; ok {
		return c
	}
	return hashColor(strings.ToLower(id))
}

// hashColor is a light colour (each channel 128-255) chosen by key.
func hashColor(key string) rgba {
	h := fnv.New32a()
	h.Write([]byte(key))
	v := h.Sum32()
	return rgba{128 + uint8(v&0x7f), 128 + uint8(v>>8&0x7f), 128 + uint8(v>>16&0x7f), 255}
}

// modelColorNames are the colours of structures #1 to #10
// (atomic_color_names); later ones get a colour of their own.
var modelColorNames = []string{"tan", "skyblue", "plum", "lightgreen", "salmon", "lightgray", "deeppink",
	"gold", "dodgerblue", "purple"}

// modelColor is the colour ChimeraX gives the carbons of structure #id
// (a model colour that equals the background is skipped, as ChimeraX does).
func modelColor(id int, background rgba) rgba {
	if id >= 1 && id <= len(modelColorNames) {
		if c := cssColors[modelColorNames[id-1]]; c.opaque() != background.opaque() {
			return c
		}
	}
	return hashColor("model " + strconv.Itoa(id))
}

// colorNames are the names of cssColors, sorted, for abbreviations.
var colorNames = func() []string {
	names := make([]string, 0, len(cssColors))
	for n := range cssColors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}()

// cssColors are the CSS 4 colour names ChimeraX knows, and "transparent".
// Names of several words ("sky blue") are these without their spaces.
var cssColors = map[string]rgba{
	"transparent": {0, 0, 0, 0},
	"aliceblue":   {240, 248, 255, 255}, "antiquewhite": {250, 235, 215, 255},
	"aqua": {0, 255, 255, 255}, "aquamarine": {127, 255, 212, 255}, "azure": {240, 255, 255, 255},
	"beige": {245, 245, 220, 255}, "bisque": {255, 228, 196, 255}, "black": {0, 0, 0, 255},
	"blanchedalmond": {255, 235, 205, 255}, "blue": {0, 0, 255, 255},
	"blueviolet": {138, 43, 226, 255}, "brown": {165, 42, 42, 255}, "burlywood": {222, 184, 135, 255},
	"cadetblue": {95, 158, 160, 255}, "chartreuse": {127, 255, 0, 255},
	"chocolate": {210, 105, 30, 255}, "coral": {255, 127, 80, 255},
	"cornflowerblue": {100, 149, 237, 255}, "cornsilk": {255, 248, 220, 255},
	"crimson": {220, 20, 60, 255}, "cyan": {0, 255, 255, 255}, "darkblue": {0, 0, 139, 255},
	"darkcyan": {0, 139, 139, 255}, "darkgoldenrod": {184, 134, 11, 255},
	"darkgray": {169, 169, 169, 255}, "darkgreen": {0, 100, 0, 255}, "darkgrey": {169, 169, 169, 255},
	"darkkhaki": {189, 183, 107, 255}, "darkmagenta": {139, 0, 139, 255},
	"darkolivegreen": {85, 107, 47, 255}, "darkorange": {255, 140, 0, 255},
	"darkorchid": {153, 50, 204, 255}, "darkred": {139, 0, 0, 255}, "darksalmon": {233, 150, 122, 255},
	"darkseagreen": {143, 188, 143, 255}, "darkslateblue": {72, 61, 139, 255},
	"darkslategray": {47, 79, 79, 255}, "darkslategrey": {47, 79, 79, 255},
	"darkturquoise": {0, 206, 209, 255}, "darkviolet": {148, 0, 211, 255},
	"deeppink": {255, 20, 147, 255}, "deepskyblue": {0, 191, 255, 255},
	"dimgray": {105, 105, 105, 255}, "dimgrey": {105, 105, 105, 255},
	"dodgerblue": {30, 144, 255, 255}, "firebrick": {178, 34, 34, 255},
	"floralwhite": {255, 250, 240, 255}, "forestgreen": {34, 139, 34, 255},
	"fuchsia": {255, 0, 255, 255}, "gainsboro": {220, 220, 220, 255},
	"ghostwhite": {248, 248, 255, 255}, "gold": {255, 215, 0, 255}, "goldenrod": {218, 165, 32, 255},
	"gray": {128, 128, 128, 255}, "green": {0, 128, 0, 255}, "greenyellow": {173, 255, 47, 255},
	"grey": {128, 128, 128, 255}, "honeydew": {240, 255, 240, 255}, "hotpink": {255, 105, 180, 255},
	"indianred": {205, 92, 92, 255}, "indigo": {75, 0, 130, 255}, "ivory": {255, 255, 240, 255},
	"khaki": {240, 230, 140, 255}, "lavender": {230, 230, 250, 255},
	"lavenderblush": {255, 240, 245, 255}, "lawngreen": {124, 252, 0, 255},
	"lemonchiffon": {255, 250, 205, 255}, "lightblue": {173, 216, 230, 255},
	"lightcoral": {240, 128, 128, 255}, "lightcyan": {224, 255, 255, 255},
	"lightgoldenrodyellow": {250, 250, 210, 255}, "lightgray": {211, 211, 211, 255},
	"lightgreen": {144, 238, 144, 255}, "lightgrey": {211, 211, 211, 255},
	"lightpink": {255, 182, 193, 255}, "lightsalmon": {255, 160, 122, 255},
	"lightseagreen": {32, 178, 170, 255}, "lightskyblue": {135, 206, 250, 255},
	"lightslategray": {119, 136, 153, 255}, "lightslategrey": {119, 136, 153, 255},
	"lightsteelblue": {176, 196, 222, 255}, "lightyellow": {255, 255, 224, 255},
	"lime": {0, 255, 0, 255}, "limegreen": {50, 205, 50, 255}, "linen": {250, 240, 230, 255},
	"magenta": {255, 0, 255, 255}, "maroon": {128, 0, 0, 255},
	"mediumaquamarine": {102, 205, 170, 255}, "mediumblue": {0, 0, 205, 255},
	"mediumorchid": {186, 85, 211, 255}, "mediumpurple": {147, 112, 219, 255},
	"mediumseagreen": {60, 179, 113, 255}, "mediumslateblue": {123, 104, 238, 255},
	"mediumspringgreen": {0, 250, 154, 255}, "mediumturquoise": {72, 209, 204, 255},
	"mediumvioletred": {199, 21, 133, 255}, "midnightblue": {25, 25, 112, 255},
	"mintcream": {245, 255, 250, 255}, "mistyrose": {255, 228, 225, 255},
	"moccasin": {255, 228, 181, 255}, "navajowhite": {255, 222, 173, 255}, "navy": {0, 0, 128, 255},
	"oldlace": {253, 245, 230, 255}, "olive": {128, 128, 0, 255}, "olivedrab": {107, 142, 35, 255},
	"orange": {255, 165, 0, 255}, "orangered": {255, 69, 0, 255}, "orchid": {218, 112, 214, 255},
	"palegoldenrod": {238, 232, 170, 255}, "palegreen": {152, 251, 152, 255},
	"paleturquoise": {175, 238, 238, 255}, "palevioletred": {219, 112, 147, 255},
	"papayawhip": {255, 239, 213, 255}, "peachpuff": {255, 218, 185, 255}, "peru": {205, 133, 63, 255},
	"pink": {255, 192, 203, 255}, "plum": {221, 160, 221, 255}, "powderblue": {176, 224, 230, 255},
	"purple": {128, 0, 128, 255}, "rebeccapurple": {102, 51, 153, 255}, "red": {255, 0, 0, 255},
	"rosybrown": {188, 143, 143, 255}, "royalblue": {65, 105, 225, 255},
	"saddlebrown": {139, 69, 19, 255}, "salmon": {250, 128, 114, 255},
	"sandybrown": {244, 164, 96, 255}, "seagreen": {46, 139, 87, 255},
	"seashell": {255, 245, 238, 255}, "sienna": {160, 82, 45, 255}, "silver": {192, 192, 192, 255},
	"skyblue": {135, 206, 235, 255}, "slateblue": {106, 90, 205, 255},
	"slategray": {112, 128, 144, 255}, "slategrey": {112, 128, 144, 255}, "snow": {255, 250, 250, 255},
	"springgreen": {0, 255, 127, 255}, "steelblue": {70, 130, 180, 255}, "tan": {210, 180, 140, 255},
	"teal": {0, 128, 128, 255}, "thistle": {216, 191, 216, 255}, "tomato": {255, 99, 71, 255},
	"turquoise": {64, 224, 208, 255}, "violet": {238, 130, 238, 255}, "wheat": {245, 222, 179, 255},
	"white": {255, 255, 255, 255}, "whitesmoke": {245, 245, 245, 255}, "yellow": {255, 255, 0, 255},
	"yellowgreen": {154, 205, 50, 255},
}
