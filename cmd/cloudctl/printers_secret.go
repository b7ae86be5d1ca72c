package main

import (
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// secretColumns print NAME TYPE DATA AGE, as kubectl: the number of keys,
// never a value.
func secretColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "TYPE", "DATA", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			s := obj.(*api.Secret)
			return []string{s.Name, string(s.Type), strconv.Itoa(len(s.Data)), age(s.CreationTimestamp, now)}, nil
		},
	}
}

// secret describes a secret as kubectl does: its keys with the size of
// their values, never the values.
func (d *describer) secret(k *api.KindInfo, s *api.Secret) {
	d.meta(k, &s.ObjectMeta)
	d.line(0, "")
	d.line(0, "Type:\t%s", s.Type)
	if s.Immutable != nil && *s.Immutable {
		d.line(0, "Immutable:\ttrue")
	}
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	for _, key := range sortedKeys(s.Data) {
		d.line(0, "%s:\t%d bytes", key, len(s.Data[key]))
	}
}
