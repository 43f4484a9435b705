"""A small process that calls small_mediation (a call activity), for the diagram's drill-down."""
from __future__ import annotations

CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_caller" targetNamespace="http://jiefen.test/caller">
  <bpmn:process id="caller" name="调用调解" isExecutable="true" camunda:candidateStarterGroups="intake_clerk">
    <bpmn:startEvent id="caller_start" name="开始" />
    <bpmn:sequenceFlow id="cf1" sourceRef="caller_start" targetRef="call_mediation" />
    <bpmn:callActivity id="call_mediation" name="调解（子流程）" calledElement="small_mediation" />
    <bpmn:sequenceFlow id="cf2" sourceRef="call_mediation" targetRef="caller_end" />
    <bpmn:endEvent id="caller_end" name="结束" />
  </bpmn:process>
</bpmn:definitions>
"""
