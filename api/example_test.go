package api_test

import (
	"fmt"

	"github.com/cloudmgr/cloud/api"
)

func ExampleScheme_Decode() {
	s := api.NewScheme()
	manifest := []byte(`
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
  - name: web
    image: nginx:1.27
    resources:
      limits:
        cpu: 500m
`)
	obj, kind, err := s.Decode(manifest)
	if err != nil {
		fmt.Println(err)
		return
	}
	kind.Default(obj)
	if errs := kind.Validate(obj); len(errs) > 0 {
		fmt.Println(errs)
		return
	}
	pod := obj.(*api.Pod)
	fmt.Println(kind.Path(pod.Namespace, pod.Name))
	fmt.Println(pod.Spec.Containers[0].ImagePullPolicy, pod.Spec.Containers[0].Resources.Limits.Cpu().MilliValue())

	_, _, err = s.Decode([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - imagee: nginx\n"))
	fmt.Println(err)
	// Output:
	// /api/v1/namespaces/shop/pods/web
	// IfNotPresent 500
	// strict decoding error: spec.containers[0].imagee: unknown field
}

func ExampleParseSelector() {
	sel, err := api.ParseSelector("app=web, tier in (front,back), !canary")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sel)
	fmt.Println(sel.Matches(map[string]string{"app": "web", "tier": "front"}))
	fmt.Println(sel.Matches(map[string]string{"app": "web", "tier": "front", "canary": "true"}))
	// Output:
	// app=web,!canary,tier in (back,front)
	// true
	// false
}

func ExampleParseQuantity() {
	q, err := api.ParseQuantity("1.5Gi")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q, q.Value(), q.Cmp(api.MustParseQuantity("1536Mi")))
	_, err = api.ParseQuantity("12 GiB")
	fmt.Println(err)
	// Output:
	// 1.5Gi 1610612736 0
	// quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
}
