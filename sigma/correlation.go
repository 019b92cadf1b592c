package sigma

import (
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

var correlationTypes = map[string]struct {
	needCond, needField bool
}{
	"event_count":      {needCond: true},
	"value_count":      {needCond: true, needField: true},
	"temporal":         {},
	"temporal_ordered": {},
	"value_sum":        {needCond: true, needField: true},
	"value_avg":        {needCond: true, needField: true},
	"value_percentile": {needCond: true, needField: true},
}

var thresholdOps = map[string]bool{"gt": true, "gte": true, "lt": true, "lte": true, "eq": true, "neq": true}

// correlation parses a correlation section.
func (p *parser) correlation(n *yaml.Node) *Correlation {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "correlation: want a map, got %s", kindName(n))
		return nil
	}
	c := &Correlation{}
	var typeNode, rulesNode, spanNode, condNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch k.Value {
		case "type":
			typeNode = v
			c.Type = p.str(k, v)
		case "rules":
			rulesNode = v
			c.Rules = p.strs(k, v)
		case "group-by":
			c.GroupBy = p.strs(k, v)
		case "timespan", "timeframe":
			spanNode = v
			if s := p.str(k, v); s != "" {
				d, err := parseTimespan(s)
				if err != nil {
					p.errorf(v, "correlation: %v", err)
				}
				c.Timespan = d
			}
		case "condition":
			condNode = v
		case "generate":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				p.errorf(v, "correlation: generate must be true or false")
				continue
			}
			c.Generate = scalarValue(v).s == "true"
		case "aliases":
			c.Aliases = p.aliases(v)
		}
	}
	spec, ok := correlationTypes[c.Type]
	switch {
	case typeNode == nil:
		p.errorf(n, "correlation: missing type")
	case !ok:
		p.errorf(typeNode, "correlation: unknown type %q (want event_count, value_count, temporal, temporal_ordered, value_sum, value_avg or value_percentile)", c.Type)
	}
	if rulesNode == nil || len(c.Rules) == 0 {
		p.errorf(n, "correlation: missing rules")
	}
	if spanNode == nil {
		p.errorf(n, "correlation: missing timespan")
	}
	if condNode != nil {
		p.correlationCondition(condNode, c)
	} else if spec.needCond {
		p.errorf(n, "correlation: type %s needs a condition", c.Type)
	}
	if spec.needField && c.Field == "" && condNode != nil {
		p.errorf(condNode, "correlation: type %s needs condition.field", c.Type)
	}
	if (c.Type == "temporal" || c.Type == "temporal_ordered") && len(c.Thresholds) == 0 {
		c.Thresholds = []Threshold{{Op: "gte", Value: float64(len(c.Rules))}}
	}
	if len(c.Thresholds) > 0 {
		c.Op, c.Value = c.Thresholds[0].Op, c.Thresholds[0].Value
	}
	return c
}

func (p *parser) correlationCondition(n *yaml.Node, c *Correlation) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "correlation: condition must be a map such as {gte: 10}, got %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case k.Value == "field":
			c.ConditionFields = p.strs(k, v)
			if len(c.ConditionFields) > 0 {
				c.Field = c.ConditionFields[0]
			}
		case thresholdOps[k.Value]:
			if v.Kind != yaml.ScalarNode {
				p.errorf(v, "correlation: condition %s needs a number", k.Value)
				continue
			}
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				p.errorf(v, "correlation: condition %s needs a number, got %q", k.Value, v.Value)
				continue
			}
			c.Thresholds = append(c.Thresholds, Threshold{Op: k.Value, Value: f})
		default:
			p.errorf(k, "correlation: unknown condition key %q (want field, gt, gte, lt, lte, eq or neq)", k.Value)
		}
	}
	if len(c.Thresholds) == 0 {
		p.errorf(n, "correlation: condition has no comparison (gt, gte, lt, lte, eq or neq)")
	}
}

func (p *parser) aliases(n *yaml.Node) map[string]map[string]string {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "correlation: aliases must be a map, got %s", kindName(n))
		return nil
	}
	out := map[string]map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if v.Kind != yaml.MappingNode {
			p.errorf(v, "correlation: alias %q must map rule names to fields, got %s", k.Value, kindName(v))
			continue
		}
		m := map[string]string{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			rk, rv := v.Content[j], resolve(v.Content[j+1])
			m[rk.Value] = p.str(rk, rv)
		}
		out[k.Value] = m
	}
	return out
}

// parseTimespan parses "30s", "5m", "1h", "1d" (also "2w"; "90m" is fine).
func parseTimespan(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, &timespanError{s}
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n <= 0 || n > 1<<31 {
		return 0, &timespanError{s}
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, &timespanError{s}
	}
	return time.Duration(n) * unit, nil
}

type timespanError struct{ s string }

func (e *timespanError) Error() string {
	return "invalid timespan " + strconv.Quote(e.s) + " (want a number and s, m, h or d, e.g. 5m)"
}
