package server

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIProblemCodes: the Problem schema's code enum is exactly the
// codes of the error table, and "internal".
func TestOpenAPIProblemCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `yaml:"enum"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"Problem"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		t.Fatal(err)
	}
	documented := doc.Components.Schemas.Problem.Properties.Code.Enum
	want := []string{"internal"}
	for _, k := range problemKinds {
		if !slices.Contains(want, k.code) {
			want = append(want, k.code)
		}
	}
	slices.Sort(want)
	slices.Sort(documented)
	if !slices.Equal(documented, want) {
		t.Errorf("Problem.code enum = %v, want the error table's codes %v", documented, want)
	}
}
