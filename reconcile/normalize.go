package reconcile

//hubmigrate:pure

import "encoding/json"

// normalize round-trips through JSON so a status read from the server and one
// computed here compare equal when they say the same (int64 vs float64...).
func normalize(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(data, &out)
	return out
}
