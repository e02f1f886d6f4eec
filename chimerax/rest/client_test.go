package rest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/chimerad/chimerad/chimerax/rest"
)

func TestClientParsesEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		wantErr    bool
		check      func(*rest.Result) error
	}{
		{
			name: "ok",
			body: `{"json values": ["{\"model specs\": [\"#1\"]}", null], "python values": [], "log messages": {"note": ["a\n"], "warning": [], "error": [], "bug": []}, "error": null}`,
			check: func(r *rest.Result) error {
				var v struct {
					Specs []string `json:"model specs"`
				}
				if err := json.Unmarshal(r.JSONValues[0], &v); err != nil || len(v.Specs) != 1 || v.Specs[0] != "#1" {
					return fmt.Errorf("json value 0 = %s, want model specs [#1]", r.JSONValues[0])
				}
				if string(r.JSONValues[1]) != "null" || !r.OK() {
					return fmt.Errorf("json value 1 = %s ok %v, want null and ok", r.JSONValues[1], r.OK())
				}
				return nil
			},
		},
		{
			name: "error",
			body: `{"json values": [], "python values": [], "log messages": {"note": [], "warning": [], "error": [], "bug": []}, "error": {"type": "UserError", "message": "Unknown command: x"}}`,
			check: func(r *rest.Result) error {
				if r.OK() || r.Error.Type != "UserError" || r.Message() != "Unknown command: x" {
					return fmt.Errorf("error = %+v, want UserError", r.Error)
				}
				return nil
			},
		},
		{name: "missing key", body: `{"json values": [], "python values": [], "error": null}`, wantErr: true},
		{name: "not json", body: `<html>`, wantErr: true},
		{name: "bad inner json", body: `{"json values": ["{"], "python values": [], "log messages": {"note": [], "warning": [], "error": [], "bug": []}, "error": null}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rest.ParseResult([]byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, rest.ErrProtocol) {
					t.Errorf("ParseResult = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(r); err != nil {
				t.Error(err)
			}
		})
	}
}
