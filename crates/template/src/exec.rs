//! The executor of Go's `text/template/exec.go` over the parsed tree: pipelines, variables,
//! `if`/`range`/`with`/`template`, field and method access with Go's typing rules, and
//! execution errors in Go's `template: NAME:LINE:COL: executing "NAME" at <node>: ...` form.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::{self, Func, Ty};
use crate::gofmt;
use crate::parse::{Arg, Branch, Command, Node, Pipe, TemplateCall, Trees};
use crate::value::{DurationValue, Value};

/// Template calls nested deeper than this fail. Go allows 100000; each level here costs Rust
/// stack, and the rule engine may run on small thread stacks.
const MAX_EXEC_DEPTH: usize = 100;

/// What execution needs from outside besides the data: the `query` function, the
/// evaluation time and the external URL.
pub(crate) struct Env<'a> {
    pub query: &'a dyn crate::QueryFunc,
    pub now_ms: i64,
    pub external_url: &'a str,
}

/// Why a walk stopped early.
pub(crate) enum Stop {
    Error(String),
    Break,
    Continue,
}

type R<T> = Result<T, Stop>;

/// The node execution is at, for error messages.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
    Call(&'t TemplateCall),
}

impl At<'_> {
    fn pos_and_context(&self) -> Option<(usize, String)> {
        match self {
            At::None => None,
            At::Node(n) => Some((n.pos(), n.to_string())),
            At::Pipe(p) => Some((p.pos, p.to_string())),
            At::Cmd(c) => Some((c.pos, c.to_string())),
            At::Arg(a) => Some((a.pos(), a.to_string())),
            At::Call(t) => Some((t.pos, Node::Template((*t).clone()).to_string())),
        }
    }
}

pub(crate) struct State<'t, 'e> {
    /// The parse name (the template's own name), used for error locations.
    parse_name: &'t str,
    text: &'t str,
    trees: &'t Trees,
    /// The name of the template being executed (a `{{define}}` name inside `{{template}}`).
    exec_name: &'t str,
    vars: Vec<(String, Value)>,
    depth: usize,
    at: At<'t>,
    out: String,
    env: &'e Env<'e>,
}

pub(crate) fn execute(
    name: &str,
    text: &str,
    trees: &Trees,
    data: Value,
    env: &Env<'_>,
) -> Result<String, String> {
    let Some(root) = trees.trees.get(name) else {
        return Err(format!(
            "template: {name}: {} is an incomplete or empty template",
            gofmt::quote(name)
        ));
    };
    let mut state = State {
        parse_name: name,
        text,
        trees,
        exec_name: name,
        vars: vec![("$".to_string(), data.clone())],
        depth: 0,
        at: At::None,
        out: String::new(),
        env,
    };
    match state.walk_list(&data, root) {
        Ok(()) => Ok(state.out),
        Err(Stop::Error(e)) => Err(e),
        Err(Stop::Break | Stop::Continue) => Ok(state.out),
    }
}

fn missing() -> Option<Value> {
    None
}

impl<'t> State<'t, '_> {
    fn errorf<T>(&self, message: impl std::fmt::Display) -> R<T> {
        Err(Stop::Error(self.error_text(message)))
    }

    fn error_text(&self, message: impl std::fmt::Display) -> String {
        match self.at.pos_and_context() {
            None => format!("template: {}: {message}", self.exec_name),
            Some((pos, context)) => {
                let pos = pos.min(self.text.len());
                let before = &self.text[..pos];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => pos - (nl + 1),
                    None => pos,
                };
                format!(
                    "template: {}:{line}:{col}: executing {} at <{context}>: {message}",
                    self.parse_name,
                    gofmt::quote(self.exec_name)
                )
            }
        }
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node]) -> R<()> {
        for node in list {
            self.walk(dot, node)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<()> {
        self.at = At::Node(node);
        match node {
            Node::Text(text) => {
                self.out.push_str(text);
                Ok(())
            }
            Node::Action(action) => {
                let val = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at = At::Node(node);
                    self.print_value(&val);
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b),
            Node::With(b) => self.walk_if_or_with(true, dot, b),
            Node::Range(b) => self.walk_range(dot, node, b),
            Node::Template(t) => self.walk_template(dot, t),
            Node::Break(_) => Err(Stop::Break),
            Node::Continue(_) => Err(Stop::Continue),
        }
    }

    fn print_value(&mut self, val: &Value) {
        // Go dereferences pointers before printing: a sample prints as `{...}`, not `&{...}`.
        let text = match val {
            Value::Invalid | Value::Nil => "<no value>".to_string(),
            Value::Sample(s) => {
                let inner = gofmt::value_string(&Value::Sample(s.clone()));
                inner.strip_prefix('&').unwrap_or(&inner).to_string()
            }
            other => gofmt::value_string(other),
        };
        self.out.push_str(&text);
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> R<()> {
        let mark = self.vars.len();
        let result = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.truth() {
                if with {
                    self.walk_list(&val, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(else_list) = &b.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value, node: &'t Node, r: &'t Branch) -> R<()> {
        self.at = At::Node(node);
        let outer_mark = self.vars.len();
        let result = self.walk_range_inner(dot, node, r);
        self.vars.truncate(outer_mark);
        match result {
            Err(Stop::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, node: &'t Node, r: &'t Branch) -> R<()> {
        let val = self.eval_pipeline(dot, &r.pipe)?;
        let mark = self.vars.len();
        // Lazily: `range 1000000000` must not allocate its items.
        let items: Box<dyn Iterator<Item = (Value, Value)> + '_> = match &val {
            Value::QueryResult(samples) => Box::new(
                samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone()))),
            ),
            Value::List(list, _) => Box::new(
                list.iter()
                    .enumerate()
                    .map(|(i, v)| (Value::Int(i as i64), v.clone())),
            ),
            Value::StrMap(m) => Box::new(m.iter().map(|(k, v)| (Value::str(k), Value::str(v)))),
            Value::AnyMap(m) => Box::new(m.iter().map(|(k, v)| (Value::str(k), v.clone()))),
            Value::Int(n) | Value::Int64(n) => {
                if r.pipe.decl.len() > 1 {
                    self.at = At::Node(node);
                    return self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        gofmt::value_string(&val)
                    ));
                }
                let int64 = matches!(val, Value::Int64(_));
                let ctor = move |i: i64| {
                    if int64 {
                        Value::Int64(i)
                    } else {
                        Value::Int(i)
                    }
                };
                Box::new((0..(*n).max(0)).map(move |i| (ctor(i), ctor(i))))
            }
            Value::Invalid | Value::Nil => Box::new(std::iter::empty()),
            other => {
                self.at = At::Node(node);
                return self.errorf(format!(
                    "range can't iterate over {}",
                    gofmt::value_string(other)
                ));
            }
        };
        let mut items = items.peekable();
        if items.peek().is_none() {
            if let Some(else_list) = &r.else_list {
                return self.walk_list(dot, else_list);
            }
            return Ok(());
        }
        for (index, elem) in items {
            if !r.pipe.decl.is_empty() {
                if r.pipe.is_assign {
                    if r.pipe.decl.len() > 1 {
                        self.set_var(&r.pipe.decl[0], index.clone())?;
                    } else {
                        self.set_var(&r.pipe.decl[0], elem.clone())?;
                    }
                } else {
                    self.set_top_var(1, elem.clone());
                }
            }
            if r.pipe.decl.len() > 1 {
                if r.pipe.is_assign {
                    self.set_var(&r.pipe.decl[1], elem.clone())?;
                } else {
                    self.set_top_var(2, index.clone());
                }
            }
            let result = self.walk_list(&elem, &r.list);
            self.vars.truncate(mark);
            match result {
                Ok(()) | Err(Stop::Continue) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Value, t: &'t TemplateCall) -> R<()> {
        self.at = At::Call(t);
        let Some((name, tree)) = self.trees.trees.get_key_value(&t.name) else {
            return self.errorf(format!("template {} not defined", gofmt::quote(&t.name)));
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return self.errorf(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            ));
        }
        let new_dot = match &t.pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Invalid,
        };
        let saved_vars =
            std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.exec_name, name.as_str());
        self.depth += 1;
        let result = self.walk_list(&new_dot, tree);
        self.depth -= 1;
        self.exec_name = saved_name;
        self.vars = saved_vars;
        result
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        for var in self.vars.iter_mut().rev() {
            if var.0 == name {
                var.1 = value;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn set_top_var(&mut self, n: usize, value: Value) {
        let len = self.vars.len();
        if let Some(var) = self.vars.get_mut(len.wrapping_sub(n)) {
            var.1 = value;
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        for var in self.vars.iter().rev() {
            if var.0 == name {
                return Ok(var.1.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = missing();
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // A nil interface{} result is Go's invalid value from here on.
            value = Some(match v {
                Value::Nil => Value::Invalid,
                other => other,
            });
        }
        let value = value.unwrap_or(Value::Invalid);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_value: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_value.is_some() {
            let first = args.first().map(ToString::to_string).unwrap_or_default();
            return self.errorf(format!("can't give argument to non-function {first}"));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'t Command,
        final_value: Option<Value>,
    ) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field(_, idents) => {
                self.at = At::Arg(first);
                return self.eval_field_chain(
                    dot,
                    dot.clone(),
                    first,
                    idents,
                    &cmd.args,
                    final_value,
                );
            }
            Arg::Chain(..) => return self.eval_chain(dot, first, &cmd.args, final_value),
            Arg::Identifier(_, name) => {
                return self.eval_function(dot, first, name, Some(cmd), &cmd.args, final_value)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &final_value)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable(..) => return self.eval_variable(dot, first, &cmd.args, final_value),
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &final_value)?;
        match first {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.errorf("nil is not a command"),
            Arg::Number(..) => self.ideal_constant(first),
            Arg::String(_, _, text) => Ok(Value::str(text)),
            _ => self.errorf(format!(
                "can't evaluate command {}",
                gofmt::quote(&first.to_string())
            )),
        }
    }

    fn ideal_constant(&mut self, arg: &'t Arg) -> R<Value> {
        self.at = At::Arg(arg);
        let Arg::Number(_, n) = arg else {
            return Ok(Value::Invalid);
        };
        if n.is_float_literal {
            return Ok(Value::Float(n.float.unwrap_or(0.0)));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.uint.is_some() {
            return self.errorf(format!("{} overflows int", n.text));
        }
        Ok(Value::Float(n.float.unwrap_or(0.0)))
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'t Arg,
        args: &'t [Arg],
        final_value: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(chain);
        let Arg::Chain(_, node, fields) = chain else {
            return Ok(Value::Invalid);
        };
        if let Arg::Nil(_) = **node {
            return self.errorf(format!("indirection through explicit nil in {chain}"));
        }
        let receiver = self.eval_arg(dot, Ty::Untyped, node)?;
        self.eval_field_chain(dot, receiver, chain, fields, args, final_value)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        variable: &'t Arg,
        args: &'t [Arg],
        final_value: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(variable);
        let Arg::Variable(_, idents) = variable else {
            return Ok(Value::Invalid);
        };
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &final_value)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, variable, &idents[1..], args, final_value)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        final_value: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, final_value, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        field: &str,
        node: &'t Arg,
        args: &'t [Arg],
        final_value: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        if matches!(receiver, Value::Invalid) {
            // missingkey=zero: fields of nothing are nothing.
            return Ok(Value::Invalid);
        }
        if let Some(method) = funcs::method(&receiver, field) {
            return self.eval_call(
                dot,
                &method,
                node_at(node),
                field,
                args,
                final_value,
                Some(receiver),
            );
        }
        let has_args = args.len() > 1 || final_value.is_some();
        let type_name = receiver.type_name();
        match &receiver {
            Value::Data(d) => {
                let v = match field {
                    "Labels" => Some(Value::StrMap(d.labels.clone())),
                    "ExternalLabels" => Some(Value::StrMap(d.external_labels.clone())),
                    "ExternalURL" => Some(Value::Str(d.external_url.clone())),
                    "Value" => Some(Value::Float(d.value)),
                    _ => None,
                };
                if let Some(v) = v {
                    if has_args {
                        return self.errorf(format!(
                            "{field} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(v);
                }
            }
            Value::Sample(s) => {
                let v = match field {
                    "Labels" => Some(Value::StrMap(s.labels.clone())),
                    "Value" => Some(Value::Float(s.value)),
                    _ => None,
                };
                if let Some(v) = v {
                    if has_args {
                        return self.errorf(format!(
                            "{field} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(v);
                }
            }
            Value::StrMap(m) => {
                if has_args {
                    return self.errorf(format!("{field} is not a method but has arguments"));
                }
                // missingkey=zero: a missing label is the empty string.
                return Ok(Value::str(m.get(field).map(String::as_str).unwrap_or("")));
            }
            Value::AnyMap(m) => {
                if has_args {
                    return self.errorf(format!("{field} is not a method but has arguments"));
                }
                return Ok(m.get(field).cloned().unwrap_or(Value::Nil));
            }
            Value::Nil => {
                return self.errorf(format!("nil pointer evaluating interface {{}}.{field}"));
            }
            _ => {}
        }
        self.errorf(format!("can't evaluate field {field} in type {type_name}"))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        cmd: Option<&'t Command>,
        args: &'t [Arg],
        final_value: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(ident);
        let Some(func) = funcs::lookup(name) else {
            return self.errorf(format!("{} is not a defined function", gofmt::quote(name)));
        };
        let node = match cmd {
            Some(c) => At::Cmd(c),
            None => At::Arg(ident),
        };
        self.eval_call(dot, &func, node, name, args, final_value, None)
    }

    /// Go's `evalCall`: checks the argument count, evaluates arguments against the
    /// parameter types, calls, and wraps a returned error as `error calling NAME: ...`.
    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        func: &Func,
        node: At<'t>,
        name: &str,
        args: &'t [Arg],
        final_value: Option<Value>,
        receiver: Option<Value>,
    ) -> R<Value> {
        let args: &'t [Arg] = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(final_value.is_some());
        let num_fixed = func.params.len();
        if func.variadic.is_some() {
            if num_in < num_fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    args.len()
                ));
            }
        } else if num_in != num_fixed {
            return self.errorf(format!(
                "wrong number of args for {name}: want {num_fixed} got {num_in}"
            ));
        }

        if func.short_circuit {
            // `and` and `or` stop at the first argument that decides.
            let is_or = name == "or";
            let mut v = Value::Invalid;
            for arg in args {
                v = self.eval_arg(dot, Ty::Reflect, arg)?;
                if v.truth() == is_or {
                    return Ok(v);
                }
            }
            if let Some(f) = final_value {
                v = self.validate_type(f, Ty::Reflect)?;
            }
            return Ok(v);
        }

        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, func.params[i], &args[i])?);
            i += 1;
        }
        if let Some(vty) = func.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, vty, &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = final_value {
            let ty = if argv.len() < num_fixed {
                func.params[argv.len()]
            } else {
                func.variadic.unwrap_or(Ty::Any)
            };
            argv.push(self.validate_type(f, ty)?);
        }
        let result = (func.call)(
            &funcs::CallContext {
                env: self.env,
                receiver: receiver.as_ref(),
            },
            &argv,
        );
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at = node;
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    /// Go's `evalArg`: an argument evaluated for a parameter of type `ty`.
    fn eval_arg(&mut self, dot: &Value, ty: Ty, arg: &'t Arg) -> R<Value> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Dot(_) => return self.validate_type(dot.clone(), ty),
            Arg::Nil(_) => {
                if ty.can_be_nil() {
                    return Ok(ty.zero());
                }
                return self.errorf(format!("cannot assign nil to {}", ty.go_name()));
            }
            Arg::Field(_, idents) => {
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    arg,
                    idents,
                    std::slice::from_ref(arg),
                    None,
                )?;
                return self.validate_type(v, ty);
            }
            Arg::Variable(..) => {
                let v = self.eval_variable(dot, arg, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                return self.validate_type(v, ty);
            }
            Arg::Identifier(_, name) => {
                let v = self.eval_function(dot, arg, name, None, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain(..) => {
                let v = self.eval_chain(dot, arg, &[], None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        match ty {
            Ty::Str => match arg {
                Arg::String(_, _, text) => Ok(Value::str(text)),
                _ => self.errorf(format!("expected string; found {arg}")),
            },
            Ty::Duration => match arg {
                Arg::Number(_, n) if n.int.is_some() => Ok(Value::Duration(DurationValue {
                    nanos: n.int.unwrap_or(0),
                    pointer: false,
                })),
                _ => self.errorf(format!("expected integer; found {arg}")),
            },
            Ty::Any | Ty::Reflect | Ty::Untyped => self.eval_empty_interface(dot, arg),
            _ => self.errorf(format!(
                "can't handle {arg} for arg of type {}",
                ty.go_name()
            )),
        }
    }

    fn eval_empty_interface(&mut self, _dot: &Value, arg: &'t Arg) -> R<Value> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Number(..) => self.ideal_constant(arg),
            Arg::String(_, _, text) => Ok(Value::str(text)),
            _ => self.errorf(format!(
                "can't handle assignment of {arg} to empty interface argument"
            )),
        }
    }

    /// Go's `validateType`: whether a computed value fits the parameter type.
    fn validate_type(&mut self, value: Value, ty: Ty) -> R<Value> {
        if matches!(value, Value::Invalid) {
            return match ty {
                Ty::Untyped => Ok(Value::Invalid),
                t if t.can_be_nil() => Ok(t.zero()),
                t => self.errorf(format!("invalid value; expected {}", t.go_name())),
            };
        }
        let ok = match ty {
            Ty::Any | Ty::Reflect | Ty::Untyped => true,
            Ty::Str => matches!(value, Value::Str(_)),
            Ty::QueryResult => matches!(value, Value::QueryResult(_)),
            Ty::SamplePtr => matches!(value, Value::Sample(_)),
            Ty::Time => matches!(value, Value::Time(_)),
            Ty::Duration => matches!(value, Value::Duration(_)),
        };
        if ok {
            // A pointer passed for its pointee type is dereferenced.
            return Ok(match (ty, value) {
                (Ty::Time, Value::Time(t)) => Value::Time(t.value()),
                (Ty::Duration, Value::Duration(d)) => Value::Duration(DurationValue {
                    pointer: false,
                    ..d
                }),
                (_, v) => v,
            });
        }
        self.errorf(format!(
            "wrong type for value; expected {}; got {}",
            ty.go_name(),
            value.type_name()
        ))
    }
}

fn node_at(arg: &Arg) -> At<'_> {
    At::Arg(arg)
}

/// Converts a label set for templates: Go's `map[string]string`.
pub(crate) fn label_map(labels: &narthex_model::Labels) -> Rc<BTreeMap<String, String>> {
    Rc::new(
        labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
    )
}
