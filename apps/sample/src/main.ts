import 'reflect-metadata';
import { X } from '@app/job-queue';
console.log('hello', X);
